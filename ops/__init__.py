"""One-off operator commands run against a deployed stage with the operator's own AWS credentials
(never deployed, never run by koe itself). Each says what it changes and can run twice."""

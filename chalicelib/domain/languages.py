"""The languages koe speaks to customers and staff: every survey message, web page, email, CX alert
and dashboard has one template file per language here (templates/<kind>/<language>.toml). A language
is added here and by a template file for each of those kinds.
"""

from __future__ import annotations

LANGUAGES = ("ja", "zh", "en")
DEFAULT_LANGUAGE = "en"     # what a locale koe has no templates for is answered in

"""A fake of koe's answer archive (services/ports.AnswerArchive): reads a conversation store's answers
(FakeConversationStore.answers) as chalicelib/adapters/dynamo/answers.py reads the responses table,
counting the same items; checked by tests/integration/test_answer_archive_contract.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from chalicelib.domain.exports import position
from chalicelib.services.ports import AnsweredSurvey, AnswerPeriod
from tests.fakes.stores import Answers, Threads, comments_of


@dataclass
class FakeAnswerArchive:
    answers: Answers                    # (survey_id, question), shared with the store
    threads: Threads = field(default_factory=dict)      # the store's comment threads
    items_read: int = 0

    def answers_between(self, period: AnswerPeriod) -> Iterator[AnsweredSurvey]:
        # As the index is queried: every score answer from the later of start and the cursor's time
        # to end is read (and counted), the ones at or before the cursor are then skipped.
        start = max(period.start, period.after.received_at) if period.after else period.start
        scores = sorted((a for (_, question), a in self.answers.items()
                         if question == "score" and start <= a.received_at < period.end), key=position)
        for answer in scores:
            self.items_read += 1
            if period.after is not None and position(answer) <= period.after:
                continue
            if not period.selection.matches(answer):
                continue
            comments = comments_of(self.answers, self.threads, answer.survey_id)
            self.items_read += bool(comments)         # one item holds a survey's comments
            yield AnsweredSurvey(answer, tuple(comments))

"""What people read: progress lines worth printing."""

from adapters.report import worth_telling


def test_progress_tells_the_first_every_tenth_and_the_last_answer():
    told = [done for done in range(1, 26) if worth_telling(done, 25)]
    assert told == [1, 10, 20, 25]
    assert [d for d in range(1, 7) if worth_telling(d, 6, every=3)] == [1, 3, 6]

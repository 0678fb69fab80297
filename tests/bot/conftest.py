"""Fixtures shared by the bot tests (test modules that need another course define their own `course`)."""

import pytest

from tests.bot.test_app import indexed_course


@pytest.fixture(scope="module")
def course(weaviate_server, tmp_path_factory):
    """The sample course's syllabus indexed in a fresh collection, with the tiny model: (settings, kb)."""
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("course"), only=("programa.md",)) as course:
        yield course

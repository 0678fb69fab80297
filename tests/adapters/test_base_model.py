"""Publishing the GGUF base's transformers copy: complete or absent, never half-written, safe when two convert.

(The conversion itself runs in test_pipeline.py's fixture, which trains from SmolLM2's copy.)"""

import os

from adapters.base_model import publish


def saver(content: str, calls: list):
    def save(folder):
        calls.append(folder.name)
        folder.mkdir()
        (folder / "model.safetensors").write_text(content)
    return save


def test_a_copy_is_published_whole_and_replaces_one_a_killed_run_left(tmp_path):
    target, calls = tmp_path / "hf-bases" / "base-abc", []
    target.mkdir(parents=True)
    (target / "model.safetensors").write_text("half")  # no .complete: a run was killed mid-save
    publish(target, "abc", saver("whole", calls))
    assert (target / "model.safetensors").read_text() == "whole" and (target / ".complete").read_text() == "abc\n"
    assert calls == [f"base-abc.partial-{os.getpid()}"]  # written beside the target, then renamed
    assert [p.name for p in target.parent.iterdir()] == ["base-abc"]


def test_when_another_process_finished_first_its_copy_stays_and_ours_is_discarded(tmp_path):
    target, calls = tmp_path / "base-abc", []

    def save_while_another_finishes(folder):
        saver("theirs", calls)(target)
        (target / ".complete").write_text("abc\n")
        saver("ours", calls)(folder)

    publish(target, "abc", save_while_another_finishes)
    assert (target / "model.safetensors").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["base-abc"]

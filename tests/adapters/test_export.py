"""The vendored converter is taken from llama-cpp-python's own source archive, once, and only its converter;
a failed or impossible export says why and leaves no half-written GGUF."""

import io
import tarfile

import llama_cpp
import pytest

from adapters import export
from adapters.errors import ArtifactMissing, ExportFailed
from adapters.export import check_space, converter_dir, file_type_of, quantize, space_needed


def fake_sdist(cache, files: dict[str, str]):
    prefix = f"llama_cpp_python-{llama_cpp.__version__}/vendor/llama.cpp/"
    (cache / "sdist").mkdir(parents=True)
    with tarfile.open(cache / "sdist" / f"llama_cpp_python-{llama_cpp.__version__}.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_converter_is_extracted_once_from_the_sdist(tmp_path):
    fake_sdist(tmp_path, {"convert_hf_to_gguf.py": "print('convert')", "gguf-py/gguf/__init__.py": "",
                          "conversion/__init__.py": "", "src/llama.cpp": "// not needed"})
    target = converter_dir(tmp_path)
    assert (target / "convert_hf_to_gguf.py").is_file() and (target / "gguf-py/gguf/__init__.py").is_file()
    assert not (target / "src").exists()
    (target / "convert_hf_to_gguf.py").write_text("# kept")
    assert converter_dir(tmp_path) == target and (target / "convert_hf_to_gguf.py").read_text() == "# kept"


def test_missing_sdist_says_where_it_was_expected(tmp_path):
    with pytest.raises(ArtifactMissing, match="sdist"):
        converter_dir(tmp_path)


def test_file_types_are_llama_cpp_s():
    assert file_type_of("Q4_K_M") == 15 and file_type_of("Q8_0") == 7


def test_space_needed_counts_the_f16_gguf_and_its_quantized_copy():
    qwen15 = 3_554_214_416  # Qwen2.5-1.5B merged, f16 safetensors; its Q4_K_M came out at 1,117 MB
    assert 4.7e9 < space_needed(qwen15, "float16", "Q4_K_M") < 5.1e9
    assert space_needed(2 * qwen15, "float32", "Q4_K_M") == space_needed(qwen15, "float16", "Q4_K_M")
    assert space_needed(qwen15, "float16", "Q8_0") > space_needed(qwen15, "float16", "Q4_K_M")


def test_too_little_disk_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ExportFailed, match=r"not enough disk space in .*GiB free, about 931322\.6 GiB needed"):
        check_space(tmp_path, 10**15)
    check_space(tmp_path, 1)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_quantization_leaves_no_output_file(tmp_path):
    src, dst = tmp_path / "model-F16.gguf", tmp_path / "model-Q4_K_M.gguf"
    src.write_bytes(b"GGUF" + bytes(100))
    dst.write_bytes(b"half written")
    with pytest.raises(ExportFailed, match="could not quantize model-F16.gguf to Q4_K_M"):
        quantize(src, dst, "Q4_K_M", 1)
    assert not dst.exists()


def test_a_failed_conversion_removes_its_partial_gguf_and_shows_the_log_tail(tmp_path, monkeypatch):
    (tmp_path / "convert_hf_to_gguf.py").write_text(
        "import sys\nopen(sys.argv[3], 'w').write('half')\nprint('OSError: No space left on device')\nsys.exit(1)")
    monkeypatch.setattr(export, "converter_dir", lambda: tmp_path)
    out = tmp_path / "model-F16.gguf"
    with pytest.raises(ExportFailed, match="(?s)GGUF conversion failed \\(exit 1\\).*No space left on device"):
        export.convert(tmp_path / "merged", out, tmp_path / "convert.log")
    assert not out.exists()

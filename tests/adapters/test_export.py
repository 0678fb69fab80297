"""The vendored converter is taken from llama-cpp-python's own source archive, once, and only its converter."""

import io
import tarfile

import llama_cpp
import pytest

from adapters.errors import ArtifactMissing
from adapters.export import converter_dir, file_type_of


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

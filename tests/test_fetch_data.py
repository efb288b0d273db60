"""The dataset registry and the fetcher: registered checksums against the real files in the data
folder (skipped with a reason where it is absent), copying from a mirror, downloading through a
file:// URL, checksum mismatches rejected with nothing left behind, and the messages for an absent
dataset and an unknown name."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from scripts import fetch_data
from shared.data import FORMATS, paths, read_dataset, registry
from shared.data.registry import DataFile, Dataset, DatasetNotFoundError, UnknownDatasetError

REPO = Path(__file__).resolve().parents[1]
SMALL_MIRRORED = ("wizardlm_testset", "prd_vicuna80_prompts")  # 1 + 3 files, 0.1 MB


def read_sums(data_dir: Path) -> dict[str, str]:
    sums = {}
    for number, line in enumerate((data_dir / "SHA256SUMS.txt").read_text().splitlines(), 1):
        digest, _, name = line.partition("  ")
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and name, f"SHA256SUMS.txt line {number}: {line!r}"
        sums[name.removeprefix("./")] = digest
    return sums


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def local_dataset(tmp_path: Path, content: bytes, *, sha256: str | None = "auto", git_blob: str | None = None,
                  name: str = "local_file") -> tuple[Dataset, Path]:
    """A dataset whose only file is served from a file:// URL (a real file, read through urllib)."""
    source = tmp_path / "upstream" / "records.jsonl"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest() if sha256 == "auto" else sha256
    data_file = DataFile("local/sub/records.jsonl", source.as_uri(), digest, git_blob)
    return Dataset(name, "a local test file", "CC0", None, (data_file,), "https://example.org/local", False), source


# ------------------------------------------------------------------------------ registry vs the real files

def test_registered_checksums_match_the_real_files(data_dir):
    checked = 0
    for dataset in registry.DATASETS.values():
        for data_file in dataset.files:
            file = data_dir / data_file.path
            if dataset.mirrored:
                assert file.is_file(), f"{dataset.name}: {file} is registered as mirrored but absent"
                assert registry.sha256_file(file) == data_file.sha256, f"{dataset.name}: {file} sha256 differs"
                checked += 1
            else:
                assert not file.exists(), f"{dataset.name}: {file} is present; register it as mirrored"
    assert checked >= 470


def test_registry_accounts_for_every_file_in_sha256sums(data_dir):
    sums = read_sums(data_dir)
    registered = {f.path: (d, f) for d in registry.DATASETS.values() for f in d.files}
    for name, digest in sums.items():
        if name in registry.UNREGISTERED_MIRROR_FILES:
            assert name not in registered, f"{name} is both registered and listed as unregistered"
            continue
        assert name in registered, f"{name} (in SHA256SUMS.txt) is neither registered nor listed as unregistered"
        dataset, data_file = registered[name]
        assert dataset.mirrored and data_file.sha256 == digest, f"{dataset.name}: {name} sha256 differs from the sums"
    mirrored = {p for p, (d, _) in registered.items() if d.mirrored}
    assert mirrored <= set(sums), f"registered as mirrored but not in SHA256SUMS.txt: {sorted(mirrored - set(sums))}"
    assert set(registry.UNREGISTERED_MIRROR_FILES) <= set(sums)


def test_conversation_datasets_read(data_dir):
    formats = set()
    for name in registry.names(mirrored=True):
        dataset = registry.get(name)
        if dataset.format is None:
            continue
        records = list(read_dataset(dataset.format, registry.path(name, data_dir), limit=3))
        assert len(records) == 3, name
        formats.add(dataset.format)
    assert formats == {"alpaca", "lima", "wizardlm_testset", "sharegpt", "oa_questions", "e2e", "e2e_csv"}


# ------------------------------------------------------------------------------ registry structure

def test_registry_entries_are_complete():
    assert registry.names() == list(registry.DATASETS)
    for name in ("alpaca_5000", "sharegpt_sample", "oa_questions", "wizardlm_testset", "e2e_lora_valid",
                 "mt_bench_questions", "prd_vicuna80_human_ratings", "alpaca_52k", "oasst1_messages",
                 "openassistant_guanaco_train", "evol_instruct_70k", "sharegpt_v3", "e2e_lora_train"):
        assert name in registry.DATASETS, name
    for dataset in registry.DATASETS.values():
        assert dataset.format is None or dataset.format in FORMATS
        assert dataset.description and dataset.license
        for data_file in dataset.files:
            assert not PurePosixPath(data_file.path).is_absolute()
            if data_file.url and data_file.url.startswith("https://raw.githubusercontent.com/"):
                commit = data_file.url.split("/")[5]
                assert re.fullmatch(r"[0-9a-f]{40}", commit) or "AlpacaDataCleaned" in data_file.url, data_file.url
            if dataset.mirrored:
                assert data_file.sha256 is not None
        if not dataset.mirrored:
            assert dataset.note.startswith("not mirrored"), dataset.name
    assert set(registry.names(mirrored=True)).isdisjoint(registry.names(mirrored=False))
    assert registry.get("alpaca_5000").sha256 == "fc1add24c93c9fbbe585a64a6c9bf6165eb110225f4470efbff382a913558ec0"
    assert registry.get("vicuna80_answers").sha256 is None and len(registry.get("vicuna80_answers").files) == 7


@pytest.mark.parametrize("bad, match", [
    (dict(format="dolly"), "format"),
    (dict(name="Bad-Name"), "names are"),
    (dict(mirrored=True, files=(DataFile("a/b.json", None, None),)), "sha256 for every file"),
    (dict(files=(DataFile("a/b.json", None, None), DataFile("a/c.json", None, None))), "needs a folder"),
    (dict(folder="x", files=(DataFile("a/b.json", None, None),)), "under its folder"),
])
def test_malformed_entries_are_rejected(bad, match):
    fields = dict(name="ok", description="d", license="l", format=None, files=(DataFile("a/b.json", None, None),),
                  source="https://example.org", mirrored=False)
    with pytest.raises(ValueError, match=match):
        Dataset(**{**fields, **bad})


@pytest.mark.parametrize("path, url, sha, match", [
    ("../x.json", None, None, "relative POSIX"),
    ("/abs.json", None, None, "relative POSIX"),
    ("a.json", "ftp://host/a.json", None, "url must start"),
    ("a.json", None, "ABC", "64 lowercase hex"),
])
def test_malformed_files_are_rejected(path, url, sha, match):
    with pytest.raises(ValueError, match=match):
        DataFile(path, url, sha)


def test_git_blob_id_matches_git(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    file = tmp_path / "f.txt"
    file.write_bytes(b"MR||reference\n" * 1000)
    expected = subprocess.run(["git", "hash-object", str(file)], capture_output=True, text=True, check=True).stdout
    assert registry.git_blob_sha1(file) == expected.strip()


# ------------------------------------------------------------------------------ look-up errors

def test_unknown_name_lists_the_known_names(capsys):
    with pytest.raises(UnknownDatasetError) as err:
        registry.get("alpaca5000")
    message = str(err.value)
    assert "did you mean alpaca_5000" in message and "known datasets: alpaca_5000," in message
    assert all(name in message for name in registry.names())
    with pytest.raises(SystemExit) as exit_:
        fetch_data.main(["alpaca5000", "--data_dir", "unused"])
    assert exit_.value.code == 2
    assert "unknown dataset 'alpaca5000'" in capsys.readouterr().err


def test_absent_dataset_names_the_fetch_command(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as err:
        registry.path("alpaca_52k", tmp_path)
    assert f"`python -m scripts.fetch_data alpaca_52k --data_dir {tmp_path}`" in str(err.value)
    assert "stanford_alpaca/alpaca_data.json does not exist" in str(err.value)

    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "nowhere"))  # a data folder that does not exist yet
    with pytest.raises(FileNotFoundError, match=r"`python -m scripts\.fetch_data lima` \(add --from DIR"):
        registry.path("lima")
    with pytest.raises(FileNotFoundError, match=r"7 of its 7 files .* `python -m scripts\.fetch_data "
                                                r"qlora_oa_generations`"):
        registry.path("qlora_oa_generations")
    with pytest.raises(FileNotFoundError, match="has no download URL: add --from DIR"):
        registry.path("sharegpt_sample")
    assert registry.missing_files("wizardlm_testset") == list(registry.get("wizardlm_testset").files)


# ------------------------------------------------------------------------------ fetching

def test_fetch_from_mirror_then_skip(data_dir, tmp_path, capsys):
    dest = tmp_path / "data"
    assert fetch_data.main([*SMALL_MIRRORED, "--from", str(data_dir), "--data_dir", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "4 files: 4 copied, 0 downloaded, 0 already present, 0 failed" in out
    for name in SMALL_MIRRORED:
        for data_file in registry.get(name).files:
            assert (dest / data_file.path).read_bytes() == (data_dir / data_file.path).read_bytes()
    assert registry.path("wizardlm_testset", dest) == dest / "wizardlm/WizardLM_testset.jsonl"
    assert len(list(read_dataset("wizardlm_testset", registry.path("wizardlm_testset", dest)))) == 218
    assert not [p for p in files_under(dest) if p.name.endswith(".part")]

    assert fetch_data.main(["wizardlm_testset", "--from", str(data_dir), "--data_dir", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "skipped  wizardlm_testset: wizardlm/WizardLM_testset.jsonl (present and verified)" in out
    assert "1 already present" in out


def test_mirror_without_the_file_fails_with_a_summary(tmp_path, capsys):
    mirror, dest = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    assert fetch_data.main(["wizardlm_testset", "--from", str(mirror), "--data_dir", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "1 failed" in err and f"wizardlm/WizardLM_testset.jsonl: not in the mirror {mirror}" in err
    assert not dest.exists()


def test_download_through_a_file_url(tmp_path):
    content = b'{"idx": 1, "Skill": "Math", "Difficulty": 3, "Instruction": "Add 2 and 3."}\n'
    dataset, source = local_dataset(tmp_path, content)
    dest = tmp_path / "data"
    lines: list[str] = []
    summary = fetch_data.fetch_datasets([dataset], dest, log=lines.append)
    assert summary.ok and summary.count("downloaded") == 1, summary.text()
    assert (dest / "local/sub/records.jsonl").read_bytes() == content
    assert files_under(dest) == [dest / "local/sub/records.jsonl"]
    assert f"from {source.as_uri()}, verified" in lines[0]

    again = fetch_data.fetch_datasets([dataset], dest, log=lines.append)
    assert again.count("skipped") == 1 and "present and verified" in lines[-1]


def test_download_verified_by_git_blob_or_reported_unverified(tmp_path):
    content = b"name[The Eagle], eatType[coffee shop]||The Eagle is a coffee shop.\n"
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    dataset, _ = local_dataset(tmp_path, content, sha256=None, git_blob=blob)
    summary = fetch_data.fetch_datasets([dataset], tmp_path / "a", log=lambda line: None)
    assert summary.ok and not summary.unverified

    dataset, _ = local_dataset(tmp_path, content, sha256=None, git_blob="0" * 40)
    summary = fetch_data.fetch_datasets([dataset], tmp_path / "b", log=lambda line: None)
    assert not summary.ok and "git blob id mismatch" in summary.failures[0].detail
    assert not (tmp_path / "b").exists()

    dataset, _ = local_dataset(tmp_path, content, sha256=None)
    summary = fetch_data.fetch_datasets([dataset], tmp_path / "c", log=lambda line: None)
    assert summary.ok and summary.unverified
    assert hashlib.sha256(content).hexdigest() in summary.text() and "UNVERIFIED" in summary.text()


def test_sha256_mismatch_is_rejected_and_nothing_is_left(tmp_path):
    content = b'{"instruction": "Say hi.", "input": "", "output": "Hi."}\n'
    expected = "0" * 64
    dataset, source = local_dataset(tmp_path, content, sha256=expected)
    dest = tmp_path / "data"
    summary = fetch_data.fetch_datasets([dataset], dest, log=lambda line: None)
    assert not summary.ok
    detail = summary.failures[0].detail
    assert "local/sub/records.jsonl" in detail and source.as_uri() in detail
    assert f"expected {expected}, got {hashlib.sha256(content).hexdigest()}" in detail
    assert not dest.exists(), files_under(dest)  # neither the file, its temporary copy, nor the folders

    # the same through a mirror, into a data folder that already exists
    mirror = tmp_path / "mirror"
    (mirror / "local/sub").mkdir(parents=True)
    (mirror / "local/sub/records.jsonl").write_bytes(content)
    dest.mkdir()
    summary = fetch_data.fetch_datasets([dataset], dest, mirror=mirror, log=lambda line: None)
    assert not summary.ok and "sha256 mismatch" in summary.failures[0].detail
    assert list(dest.iterdir()) == []


def test_present_file_with_another_checksum_needs_force(tmp_path):
    content = b'{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}\n'
    dataset, _ = local_dataset(tmp_path, content)
    target = tmp_path / "data/local/sub/records.jsonl"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupted")
    summary = fetch_data.fetch_datasets([dataset], tmp_path / "data", log=lambda line: None)
    assert not summary.ok and "--force" in summary.failures[0].detail
    assert target.read_bytes() == b"corrupted"
    summary = fetch_data.fetch_datasets([dataset], tmp_path / "data", force=True, log=lambda line: None)
    assert summary.ok and target.read_bytes() == content


def test_failed_download_names_the_url(tmp_path):
    dataset, source = local_dataset(tmp_path, b"x")
    source.unlink()
    summary = fetch_data.fetch_datasets([dataset], tmp_path / "data", log=lambda line: None)
    assert not summary.ok and f"download of {source.as_uri()} failed" in summary.failures[0].detail
    assert not (tmp_path / "data").exists()


def test_derived_file_needs_a_mirror(tmp_path):
    summary = fetch_data.fetch_datasets([registry.get("sharegpt_sample")], tmp_path, log=lambda line: None)
    assert not summary.ok and "no download URL, only a mirror can provide it" in summary.failures[0].detail


def test_list_shows_status(data_dir, capsys):
    assert fetch_data.main(["--list", "--data_dir", str(data_dir)]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()
            if line and not line.startswith((" ", "NAME", "data folder"))}
    assert set(rows) == set(registry.names())
    assert {rows[n] for n in registry.names(mirrored=True)} == {"present"}
    assert {rows[n] for n in registry.names(mirrored=False)} == {"absent"}


def test_list_verify_flags_a_mismatch(tmp_path, capsys):
    data_file = registry.get("wizardlm_testset").files[0]
    (tmp_path / data_file.path).parent.mkdir(parents=True)
    (tmp_path / data_file.path).write_bytes(b"not the test set\n")
    assert fetch_data.main(["--list", "--data_dir", str(tmp_path)]) == 0
    assert re.search(r"^wizardlm_testset +present ", capsys.readouterr().out, re.M)
    assert fetch_data.main(["--list", "--verify", "--data_dir", str(tmp_path)]) == 1
    assert re.search(r"^wizardlm_testset +CHECKSUM MISMATCH ", capsys.readouterr().out, re.M)


def test_command_line_runs_as_a_module(tmp_path):
    env = {**os.environ, paths.ENV_VAR: str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "scripts.fetch_data", "--list"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"data folder: {tmp_path}" in done.stdout and re.search(r"^alpaca_5000 +absent ", done.stdout, re.M)
    done = subprocess.run([sys.executable, "-m", "scripts.fetch_data"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "name at least one dataset" in done.stderr

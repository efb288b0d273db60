"""Fetch registered datasets into the data folder, verifying their checksums.

    python -m scripts.fetch_data --list [--verify]               # every dataset, present or absent
    python -m scripts.fetch_data alpaca_5000 oa_questions --from ../shared/data
    python -m scripts.fetch_data --mirrored --from ../shared/data --data_dir /tmp/data
    python -m scripts.fetch_data alpaca_52k e2e_lora_train       # downloads (needs network)

Names come from ``shared.data.registry`` (``--list``). ``--from DIR`` copies from a local mirror laid
out like the data folder (only from it: a file missing there is a failure, never a silent download);
without it each file is downloaded from its URL (https, or file:// for a local copy). The data folder
is ``--data_dir``, else ``$REPRO_DATA_DIR``, else ``../shared/data``, created when absent.

Every file is written to a temporary file beside its destination and renamed into place only after
its sha256 (or git blob id) matched; on a mismatch nothing is kept and the error names the file, the
expected and the actual checksum. A file already present and verified is skipped; a present file
whose checksum differs is a failure unless ``--force`` replaces it. A file with no registered checksum
is fetched and reported as unverified, with its sha256. Exit status: 0 when every file is in place,
1 when any failed (a summary lists them), 2 for a usage error such as an unknown name.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from shared.data import registry
from shared.data.paths import resolve_data_dir
from shared.data.registry import DataFile, Dataset

CHUNK = 1 << 20
PROGRESS_EVERY = 64 << 20  # report long downloads every 64 MiB
TIMEOUT_S = 60
USER_AGENT = "repro-fetch-data/1.0 (python urllib)"
Log = Callable[[str], None]


class FetchError(Exception):
    """One file could not be put in place; the message says which, from where and why."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one file: ``action`` is copied, downloaded, skipped or failed."""

    dataset: str
    path: str
    action: str
    detail: str = ""
    unverified: bool = False


@dataclasses.dataclass
class Summary:
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(o.action == action for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "failed"]

    @property
    def unverified(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.unverified and o.action != "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def text(self) -> str:
        lines = [f"fetch_data: {len(self.outcomes)} files: {self.count('copied')} copied, "
                 f"{self.count('downloaded')} downloaded, {self.count('skipped')} already present, "
                 f"{self.count('failed')} failed"]
        lines += [f"  UNVERIFIED {o.dataset}: {o.path}: {o.detail}" for o in self.unverified]
        lines += [f"  FAILED {o.dataset}: {o.detail}" for o in self.failures]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ transfer

def _open_url(url: str) -> BinaryIO:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "http", "file"):
        raise FetchError(f"{url}: unsupported URL scheme {scheme!r} (https, http or file)")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "huggingface.co" and os.environ.get("HF_TOKEN"):  # gated datasets (e.g. GAIR/lima)
        # unredirected: the token goes to huggingface.co only, not to the storage host it redirects to
        request.add_unredirected_header("Authorization", f"Bearer {os.environ['HF_TOKEN']}")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        hint = " (gated or private: accept its terms on the page and set HF_TOKEN)" if err.code in (401, 403) else ""
        raise FetchError(f"download of {url} failed: HTTP {err.code} {err.reason}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"download of {url} failed: {reason}") from None


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p ``folder``; return the directories this call created, outermost first."""
    created: list[Path] = []
    for parent in reversed((folder, *folder.parents)):
        if not parent.exists():
            created.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _transfer(data_file: DataFile, source: BinaryIO, origin: str, dest: Path, progress: Log | None = None) -> str:
    """Stream ``source`` into a temporary file beside ``dest``, verify it, rename it to ``dest``.
    Returns the sha256. On any failure nothing is left behind (nor the folders this call made)."""
    created = _make_parents(dest.parent)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if progress is not None and size // PROGRESS_EVERY != (size - len(chunk)) // PROGRESS_EVERY:
                    progress(f"            {data_file.path}: {size >> 20} MiB so far")
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if data_file.sha256 is not None and actual != data_file.sha256:
            raise FetchError(f"{data_file.path}: sha256 mismatch for the file from {origin}: expected "
                             f"{data_file.sha256}, got {actual}; nothing was written")
        if data_file.git_blob is not None:
            blob = registry.git_blob_sha1(tmp)
            if blob != data_file.git_blob:
                raise FetchError(f"{data_file.path}: git blob id mismatch for the file from {origin}: expected "
                                 f"{data_file.git_blob}, got {blob}; nothing was written")
        os.replace(tmp, dest)
        return actual
    except BaseException:
        tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def fetch_file(dataset: Dataset, data_file: DataFile, data_dir: Path, *, mirror: Path | None = None,
               force: bool = False, progress: Log | None = None) -> Outcome:
    """Put one file of ``dataset`` in place under ``data_dir``; FetchError on failure."""
    dest = data_dir / data_file.path
    unverified = data_file.sha256 is None and data_file.git_blob is None
    if dest.is_file():
        problem = registry.check_file(data_file, dest)
        if problem is None:
            detail = "present, not verified (no checksum registered)" if unverified else "present and verified"
            return Outcome(dataset.name, data_file.path, "skipped", detail, unverified)
        if not force:
            raise FetchError(f"{problem}; the file is present but differs from the registered one: move it "
                             f"away or pass --force to replace it")
    elif dest.exists():
        raise FetchError(f"{dest} exists but is not a regular file")

    if mirror is not None:
        src = mirror / data_file.path
        if not src.is_file():
            fallback = (f"without --from it downloads from {data_file.url}" if data_file.url else
                        "it has no download URL, so only a mirror can provide it")
            raise FetchError(f"{data_file.path}: not in the mirror {mirror} ({fallback})")
        with open(src, "rb") as source:
            sha = _transfer(data_file, source, str(src), dest)
        action, origin = "copied", str(src)
    else:
        if data_file.url is None:
            raise FetchError(f"{data_file.path}: no download URL, only a mirror can provide it (--from DIR): "
                             f"{dataset.note or dataset.source}")
        with _open_url(data_file.url) as source:
            sha = _transfer(data_file, source, data_file.url, dest, progress)
        action, origin = "downloaded", data_file.url
    if unverified:
        detail = f"from {origin}: no checksum registered, so not verified; its sha256 is {sha}"
    else:
        detail = f"from {origin}, verified"
    return Outcome(dataset.name, data_file.path, action, detail, unverified)


def fetch_datasets(datasets: Iterable[Dataset], data_dir: Path, *, mirror: Path | None = None, force: bool = False,
                   log: Log = print) -> Summary:
    """Fetch every file of ``datasets`` into ``data_dir`` (folders are created as files land),
    logging one line per file; failures are collected, not raised."""
    summary = Summary()
    for dataset in datasets:
        for data_file in dataset.files:
            try:
                outcome = fetch_file(dataset, data_file, data_dir, mirror=mirror, force=force, progress=log)
            except FetchError as err:
                outcome = Outcome(dataset.name, data_file.path, "failed", str(err))
            except (OSError, http.client.HTTPException) as err:  # disk full, permissions, a cut connection
                outcome = Outcome(dataset.name, data_file.path, "failed", f"{data_file.path}: {err}")
            summary.outcomes.append(outcome)
            log(f"{outcome.action:>10}  {dataset.name}: "
                + (outcome.detail if outcome.action == "failed" else f"{data_file.path} ({outcome.detail})"))
    return summary


# ------------------------------------------------------------------------------------------ listing

def dataset_status(dataset: Dataset, data_dir: Path, *, verify: bool = False) -> str:
    """present / absent / partial k/n, and with ``verify`` 'CHECKSUM MISMATCH' when a file differs."""
    present = [f for f in dataset.files if (data_dir / f.path).is_file()]
    if verify and any(registry.check_file(f, data_dir / f.path) for f in present):
        return "CHECKSUM MISMATCH"
    if len(present) == len(dataset.files):
        return "present"
    return "absent" if not present else f"partial {len(present)}/{len(dataset.files)}"


def list_datasets(data_dir: Path, *, verify: bool = False, log: Log = print) -> bool:
    """Print every dataset with its status in ``data_dir``; False when ``verify`` found a mismatch."""
    log(f"data folder: {data_dir}" + ("" if data_dir.is_dir() else " (does not exist)"))
    log(f"{'NAME':<36} {'STATUS':<18} {'FORMAT':<17} {'FILES':>5}  PATH")
    clean = True
    for dataset in registry.DATASETS.values():
        status = dataset_status(dataset, data_dir, verify=verify)
        clean &= status != "CHECKSUM MISMATCH"
        log(f"{dataset.name:<36} {status:<18} {dataset.format or '-':<17} {len(dataset.files):>5}  {dataset.path}")
        where = "in the project mirror" if dataset.mirrored else "not in the project mirror: downloads"
        log(f"    {dataset.description} | {dataset.license} | {where}")
    return clean


# ------------------------------------------------------------------------------------------ command

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.fetch_data", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="registered dataset names (see --list)")
    parser.add_argument("--from", dest="mirror", metavar="DIR", help="copy from this local mirror instead of "
                        "downloading (laid out like the data folder, e.g. ../shared/data)")
    parser.add_argument("--data_dir", metavar="DIR", help="the data folder (default: $REPRO_DATA_DIR, else "
                        "../shared/data beside the checkout)")
    parser.add_argument("--all", action="store_true", help="every registered dataset")
    parser.add_argument("--mirrored", action="store_true", help="every dataset the project mirror holds")
    parser.add_argument("--list", action="store_true", help="list the registry with each dataset's status")
    parser.add_argument("--verify", action="store_true", help="with --list: compare checksums too (reads every file)")
    parser.add_argument("--force", action="store_true", help="replace present files whose checksum differs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    data_dir, _ = resolve_data_dir(args.data_dir)
    if args.list:
        if args.names or args.all or args.mirrored:
            parser.error("--list takes no dataset names")
        return 0 if list_datasets(data_dir, verify=args.verify) else 1
    if args.verify:
        parser.error("--verify goes with --list (fetching always verifies)")
    if args.all:
        chosen = registry.names()
    elif args.mirrored:
        chosen = registry.names(mirrored=True)
    else:
        chosen = list(dict.fromkeys(args.names))
    if not chosen:
        parser.error("name at least one dataset, or pass --all, --mirrored or --list")
    try:
        datasets = [registry.get(name) for name in chosen]
    except registry.UnknownDatasetError as err:
        parser.error(str(err))
    mirror = Path(args.mirror) if args.mirror else None
    if mirror is not None and not mirror.is_dir():
        parser.error(f"--from {mirror}: no such folder")
    print(f"fetch_data: {len(datasets)} dataset{'s' * (len(datasets) != 1)} into {data_dir}"
          + (f" from the mirror {mirror}" if mirror else " from their URLs"))
    summary = fetch_datasets(datasets, data_dir, mirror=mirror, force=args.force)
    sys.stdout.flush()
    print(summary.text(), file=sys.stdout if summary.ok else sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Reading QLoRA's released GPT-4 rating files (artidoro/qlora `eval/ratings-gpt4/`) into judgments.

File names follow the release's convention (eval/EVAL_README.md):

    <answers 1>-vs-<answers 2>-<reviewer>-reviewer[-threeclass].jsonl
    e.g. answer-gpt4-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl
         gpt-3.5-vs-bard-gpt4-reviewer.jsonl

Each line is one GPT-4 review: {"review_id", "question_id" (Vicuna) or "message_id" (OA), "answer1_id",
"answer2_id", "reviewer_id", "metadata", "text", "score"}. Assistant 1 in the review is answer1, Assistant 2 answer2.

**Three-class files** (`-threeclass`): GPT-4 was asked to end with a line holding only 1 (Assistant 1 better), 2
(Assistant 2 better) or 3 (equivalent). The verdict rule is the release's own (`eval_gpt_review.py`,
`parse_three_class_score`): the last line of the stripped review text, stripped, read as an integer; a verdict is
1, 2 or 3. Anything else (e.g. "Best answer: 2", a Spanish sentence, an API "error") is *unparseable*: the release
stored score -1 for these ("You must manually fix the score pair") and we count and report them, never guess.
`lenient_verdict` is a separate, explicitly-named rule that also reads common phrasings; it is only used by the
investigation of procedural variants, never by default. Our parse is cross-checked against the stored "score" field.

**Relative files** (no `-threeclass`): GPT-4 gave two scores out of 10 on the first line ("9 8"). The rule is the
release's `parse_score`: the first line, commas replaced by spaces, split on single spaces, exactly two floats. For
math questions GPT-4 was told to end with a Python tuple instead, so the first line does not parse; in some files
the authors fixed these by hand (the stored "score" differs from the text's first line), in others the stored score
is [-1, -1]. A pair therefore comes from the text when the text parses, else from a hand-fixed stored score (source
"stored"), else it is unparseable (counted, reported, excluded).

Model names: the generation-file stem with the release's decorations removed (`canonical_model`):
"answer-gpt35" -> "gpt-3.5", "answer-gpt4" / "gpt-4-oa-generations" -> "gpt-4",
"30b-guanaco-vicuna-generations-topp0.9-temp0.7" -> "30b-guanaco" (the paper calls the 30B LLaMA "33B").

The file name says which model is Assistant 1; `answer_id_conflicts` checks that against the answer ids (each
model's answer to a question has one id across a directory). In the released `relative-gpt-3.5` folder the names of
66 of 72 files list the two models in the opposite order of their content, which this check exposes
(`papers.qlora.relative` therefore places ChatGPT by its answer ids, not by the name).

Bad input raises `RatingsError` naming the file, the line and the field.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import re
from typing import Iterable

FILENAME = re.compile(
    r"^(?P<a>.+?)[-_]vs[-_](?P<b>.+)[-_](?P<reviewer>gpt-?4|gpt-?3\.5(?:-turbo)?|gpt-?35)[-_]reviewer"
    r"(?P<threeclass>[-_]threeclass)?\.jsonl$")
ALIASES = {"gpt35": "gpt-3.5", "gpt-35": "gpt-3.5", "gpt-3.5-turbo": "gpt-3.5", "gpt4": "gpt-4"}
VERDICTS = {1: "a", 2: "b", 3: "tie"}  # the three-class prompt: 1 = Assistant 1, 2 = Assistant 2, 3 = equivalent
QUESTION_KEYS = ("question_id", "message_id")  # Vicuna, OA


class RatingsError(ValueError):
    """A rating file or record that does not have the release's format (the message names file, line and field)."""


def canonical_model(stem: str) -> str:
    """A model name from a generation-file stem in a rating file's name (see the module docstring)."""
    name = re.sub(r"^answer[-_]", "", stem)
    name = re.sub(r"-(?:vicuna|oa)-generations.*$", "", name)
    return ALIASES.get(name, name)


@dataclasses.dataclass(frozen=True)
class RatingFile:
    """What a rating file's name says: the models behind Assistant 1 (a) and 2 (b), the reviewer, the kind."""

    path: pathlib.Path
    model_a: str
    model_b: str
    stem_a: str
    stem_b: str
    reviewer: str
    threeclass: bool


def parse_filename(path) -> RatingFile:
    path = pathlib.Path(path)
    m = FILENAME.match(path.name)
    if not m:
        raise RatingsError(f"{path}: file name does not follow the release's "
                           "'<answers 1>-vs-<answers 2>-<reviewer>-reviewer[-threeclass].jsonl' convention")
    a, b = canonical_model(m["a"]), canonical_model(m["b"])
    if a == b:
        raise RatingsError(f"{path}: both sides of the file name are model {a!r}")
    return RatingFile(path, a, b, m["a"], m["b"], m["reviewer"], m["threeclass"] is not None)


def rating_files(directory, *, threeclass: bool | None = None) -> list[RatingFile]:
    """The rating files directly in `directory` (sorted by name), optionally only three-class or only relative ones.

    Every *.jsonl file must follow the naming convention (a RatingsError names the first that does not)."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise RatingsError(f"{directory}: not a directory")
    files = [parse_filename(p) for p in sorted(directory.glob("*.jsonl"))]
    if threeclass is not None:
        files = [f for f in files if f.threeclass == threeclass]
    if not files:
        kind = {None: "", True: "three-class ", False: "relative "}[threeclass]
        raise RatingsError(f"{directory}: no {kind}rating files (*-vs-*-reviewer*.jsonl)")
    return files


def strict_verdict(text: str) -> int | None:
    """The release's three-class rule: int(last line of the stripped text), accepted when 1, 2 or 3."""
    try:
        verdict = int(text.strip().split("\n")[-1].strip())
    except ValueError:
        return None
    return verdict if verdict in VERDICTS else None


_CHOICE = re.compile(r"\b(?:best|better|mejor|choose|chose|choice)\b", re.I)
_NAMED = re.compile(r"\b(?:assistant|asistente)\s*([123])\b|\b(?:answer|respuesta)\s*:\s*([123])\b", re.I)
_TIE = re.compile(r"\b(?:option|choose|chose)\s+3\b|\bequivalent\b", re.I)


def lenient_verdict(text: str) -> int | None:
    """The strict rule, else a verdict read from the last line when it states a choice ("best", "better", "mejor",
    "choose") and names exactly one assistant ("Best answer: 2", "The best answer is provided by Assistant 1",
    "La mejor respuesta es la del Asistente 2"), or declares a tie ("I choose option 3", "... equivalent").
    Not the release's rule: used only to measure how much the unparseable reviews could matter."""
    verdict = strict_verdict(text)
    if verdict is not None:
        return verdict
    last = text.strip().split("\n")[-1].strip()
    if not _CHOICE.search(last) and not _TIE.search(last):
        return None
    named = {int(a or b) for a, b in _NAMED.findall(last)}
    if len(named) == 1:
        return named.pop()
    if _TIE.search(last):
        return 3
    return None


def release_score_pair(text: str) -> tuple[float, float] | None:
    """The release's relative rule (`parse_score`): the first line, commas as spaces, exactly two floats."""
    parts = text.split("\n")[0].replace(",", " ").split(" ")
    if len(parts) != 2:
        return None
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Review:
    """One GPT-4 review line: where it is, who Assistant 1 (a) and 2 (b) are by the file name, and what it says."""

    file: str
    line: int
    question: str
    model_a: str
    model_b: str
    answer_a: str
    answer_b: str
    text: str
    stored: object  # the release's "score" field as stored


def _field(record: dict, key: str, path, line: int, kind=str):
    if key not in record:
        raise RatingsError(f"{path}:{line}: record has no {key!r} field")
    value = record[key]
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind):
        raise RatingsError(f"{path}:{line}: field {key!r} should be a {kind.__name__}, got {type(value).__name__}")
    return value


def json_lines(path):
    """(line number, JSON object) for each line of a JSON-lines file; RatingsError naming the file and line for an
    empty line, a line that is not JSON, or a value that is not an object."""
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                raise RatingsError(f"{path}:{line_no}: empty line")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise RatingsError(f"{path}:{line_no}: not JSON ({e})") from e
            if not isinstance(record, dict):
                raise RatingsError(f"{path}:{line_no}: a record should be a JSON object")
            yield line_no, record


def read_reviews(rating_file: RatingFile) -> list[Review]:
    """Every line of one rating file as a Review (RatingsError on a line that is not a release review record)."""
    path = rating_file.path
    reviews = []
    for line_no, record in json_lines(path):
        key = next((k for k in QUESTION_KEYS if k in record), None)
        if key is None:
            raise RatingsError(f"{path}:{line_no}: record has neither 'question_id' nor 'message_id'")
        if "score" not in record:
            raise RatingsError(f"{path}:{line_no}: record has no 'score' field")
        reviews.append(Review(
            file=str(path), line=line_no, question=_field(record, key, path, line_no),
            model_a=rating_file.model_a, model_b=rating_file.model_b,
            answer_a=_field(record, "answer1_id", path, line_no),
            answer_b=_field(record, "answer2_id", path, line_no),
            text=_field(record, "text", path, line_no), stored=record["score"]))
    if not reviews:
        raise RatingsError(f"{path}: no reviews")
    return reviews


@dataclasses.dataclass(frozen=True)
class Match:
    """One three-class judgment: model a (Assistant 1) against model b on one question; outcome 'a', 'b' or 'tie'."""

    model_a: str
    model_b: str
    outcome: str
    question: str
    file: str
    line: int

    @property
    def score_a(self) -> float:
        return {"a": 1.0, "b": 0.0, "tie": 0.5}[self.outcome]


@dataclasses.dataclass(frozen=True)
class Unparsed:
    """A review whose verdict the rule could not read: where it is and how its text ends."""

    file: str
    line: int
    model_a: str
    model_b: str
    question: str
    last_line: str
    stored: object


@dataclasses.dataclass
class ThreeClass:
    """A directory of three-class ratings: the matches, the unparseable reviews and the checks on both."""

    directory: str
    files: list[RatingFile]
    matches: list[Match]
    unparsed: list[Unparsed]
    stored_disagreements: list[tuple[str, int, object, int]]  # (file, line, stored score, our verdict)
    answer_id_conflicts: list[str]
    rule: str

    @property
    def models(self) -> list[str]:
        return sorted({m for f in self.files for m in (f.model_a, f.model_b)})

    def summary(self) -> dict:
        per_file = collections.Counter(pathlib.Path(u.file).name for u in self.unparsed)
        outcomes = collections.Counter(m.outcome for m in self.matches)
        return {"directory": self.directory, "rule": self.rule, "files": len(self.files),
                "reviews": len(self.matches) + len(self.unparsed), "matches": len(self.matches),
                "unparseable": len(self.unparsed), "unparseable_by_file": dict(sorted(per_file.items())),
                "outcomes": {k: outcomes.get(k, 0) for k in ("a", "b", "tie")},
                "stored_score_disagreements": len(self.stored_disagreements),
                "answer_id_conflicts": len(self.answer_id_conflicts), "models": self.models}


def answer_id_conflicts(reviews: Iterable[Review]) -> list[str]:
    """Each model's answer to a question should carry one answer id across a directory; a second id means a file
    name lists its models in another order than its content (or the answers were regenerated). One message per
    (model, question) with more than one id."""
    seen: dict[tuple[str, str], dict[str, tuple[str, int]]] = collections.defaultdict(dict)
    for r in reviews:
        for model, answer in ((r.model_a, r.answer_a), (r.model_b, r.answer_b)):
            seen[(model, r.question)].setdefault(answer, (r.file, r.line))
    out = []
    for (model, question), ids in sorted(seen.items()):
        if len(ids) > 1:
            where = "; ".join(f"{a} at {pathlib.Path(f).name}:{n}" for a, (f, n) in list(ids.items())[:3])
            more = "; ..." if len(ids) > 3 else ""
            out.append(f"model {model!r}, question {question}: {len(ids)} answer ids ({where}{more})")
    return out


def read_threeclass(directory, *, rule: str = "strict") -> ThreeClass:
    """Every three-class rating file in `directory` as matches, with the unparseable reviews reported.

    rule: "strict" (the release's, default) or "lenient" (see `lenient_verdict`; investigation only)."""
    parse = {"strict": strict_verdict, "lenient": lenient_verdict}.get(rule)
    if parse is None:
        raise ValueError(f"rule must be 'strict' or 'lenient', got {rule!r}")
    files = rating_files(directory, threeclass=True)
    matches, unparsed, disagree, all_reviews = [], [], [], []
    for rf in files:
        for r in read_reviews(rf):
            all_reviews.append(r)
            verdict = parse(r.text)
            stored = r.stored
            if stored not in (-1, 1, 2, 3):
                raise RatingsError(f"{r.file}:{r.line}: field 'score' should be 1, 2, 3 or -1 in a three-class file, "
                                   f"got {stored!r}")
            strict = strict_verdict(r.text)
            if (strict or -1) != stored:
                disagree.append((r.file, r.line, stored, strict))
            if verdict is None:
                unparsed.append(Unparsed(r.file, r.line, r.model_a, r.model_b, r.question,
                                         r.text.strip().split("\n")[-1].strip()[:200], stored))
            else:
                matches.append(Match(r.model_a, r.model_b, VERDICTS[verdict], r.question, r.file, r.line))
    return ThreeClass(str(directory), files, matches, unparsed, disagree, answer_id_conflicts(all_reviews), rule)


@dataclasses.dataclass(frozen=True)
class ScorePair:
    """One relative review: the two 1-10 scores GPT-4 gave, Assistant 1 first; source 'text' or 'stored' (a pair
    the authors fixed by hand in the file), None when neither gives one."""

    review: Review
    scores: tuple[float, float] | None
    source: str | None


def _stored_pair(stored, path, line) -> tuple[float, float] | None:
    if not (isinstance(stored, list) and len(stored) == 2 and all(isinstance(s, (int, float)) for s in stored)):
        raise RatingsError(f"{path}:{line}: field 'score' should be a pair of numbers in a relative file, "
                           f"got {stored!r}")
    if list(stored) == [-1, -1]:
        return None
    if not all(0 <= s <= 10 for s in stored):
        raise RatingsError(f"{path}:{line}: field 'score' {stored!r} is outside the 1-10 scale")
    return float(stored[0]), float(stored[1])


def read_relative_file(rating_file: RatingFile) -> list[ScorePair]:
    """One relative (10-point) rating file as score pairs (see the module docstring for the rule)."""
    out = []
    for r in read_reviews(rating_file):
        stored = _stored_pair(r.stored, r.file, r.line)
        parsed = release_score_pair(r.text)
        if parsed is not None and stored is not None and parsed != stored:
            raise RatingsError(f"{r.file}:{r.line}: field 'score' {r.stored!r} disagrees with the review's first line "
                               f"{r.text.splitlines()[0]!r}")
        if parsed is not None:
            out.append(ScorePair(r, parsed, "text"))
        elif stored is not None:
            out.append(ScorePair(r, stored, "stored"))
        else:
            out.append(ScorePair(r, None, None))
    return out


HUMAN_FILENAME = re.compile(r"^answer_(?P<a>.+?)-vs-answer_(?P<b>.+)-human-reviewer_threeclass\.jsonl$")
HUMAN_NAMES = {"gpt4": "gpt-4", "gpt35": "gpt-3.5", "guanaco-7b": "7b-guanaco", "guanaco-13b": "13b-guanaco",
               "guanaco-33b": "30b-guanaco", "guanaco-65b": "65b-guanaco"}


def read_human(directory, *, vote: str = "annotator", exclude: tuple[str, ...] = ("claude",)) -> list[Match]:
    """QLoRA's Vicuna-benchmark human pairwise ratings as converted by the PRD repository (bcdnlp/PRD
    `data/vicuna80/ratings-human/answer_X-vs-answer_Y-human-reviewer_threeclass.jsonl`: one line per annotator and
    question, {"question_id", "text", "score": 1 (X better), 2 (Y better) or 3 (tie)}). The release's own CSV is not
    available (over the snapshot's size limit), so this conversion is what we have; its reading of 1/2 as the file's
    first/second model is PRD's.

    vote: "annotator" (every annotation is one match) or "majority" (one match per file and question: the label two of
    the three annotators gave, else a tie). exclude: models to leave out (PRD added Claude, which QLoRA did not rate).
    """
    if vote not in ("annotator", "majority"):
        raise ValueError(f"vote must be 'annotator' or 'majority', got {vote!r}")
    directory = pathlib.Path(directory)
    paths = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    if not paths:
        raise RatingsError(f"{directory}: no human rating files (answer_X-vs-answer_Y-human-reviewer_threeclass.jsonl)")
    matches = []
    for path in paths:
        m = HUMAN_FILENAME.match(path.name)
        if not m:
            raise RatingsError(f"{path}: file name is not 'answer_X-vs-answer_Y-human-reviewer_threeclass.jsonl'")
        a, b = (HUMAN_NAMES.get(x, x) for x in (m["a"], m["b"]))
        if a in exclude or b in exclude:
            continue
        labels: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
        for line_no, record in json_lines(path):
            score = record.get("score")
            if score not in VERDICTS:
                raise RatingsError(f"{path}:{line_no}: field 'score' should be 1, 2 or 3, got {score!r}")
            question = _field(record, "question_id", path, line_no)
            labels[question].append((score, line_no))
        for question, votes in labels.items():
            if vote == "annotator":
                matches += [Match(a, b, VERDICTS[s], question, str(path), n) for s, n in votes]
            else:
                top, count = collections.Counter(s for s, _ in votes).most_common(1)[0]
                matches.append(Match(a, b, VERDICTS[top] if count * 2 > len(votes) else "tie", question, str(path),
                                     votes[0][1]))
    return matches

"""QLoRA claim 7 (papers/qlora/finetune_dtypes.py): the criterion on synthetic numbers, the claim's machinery end to
end on the random tiny model (3 base types x 2 seeds, 2 steps), and the real config's data split."""
import math

import numpy as np
import pytest

from papers.qlora.configs.alpaca_dtypes import VARIANTS, get_config
from papers.qlora.finetune_dtypes import criterion, finetune_dtypes, run_config, stats, train_run
from shared.eval import STATUSES, read_result, write_result


def test_criterion_passes_overlaps_and_fails():
    bf16 = [1.50, 1.52, 1.51]  # range 0.02
    assert criterion(bf16, [1.515, 1.505, 1.52])["status"] == "reproduced"  # mean 1.5133, |diff| 0.0033 <= 0.02
    partly = criterion(bf16, [1.515, 1.55, 1.56])  # mean 1.5417: outside the range, but 1.515 lies within it
    assert partly["status"] == "partly" and partly["runs_overlap"] and not partly["within_range"]
    failed = criterion(bf16, [1.60, 1.61, 1.62])
    assert failed["status"] == "not reproduced" and not failed["runs_overlap"]
    assert failed["difference_of_means"] == pytest.approx(0.10)
    assert criterion(bf16, [1.49, 1.50, 1.48])["status"] == "reproduced"  # |diff| 0.02: the boundary counts
    s = stats([1.0, 2.0, 3.0])
    assert (s["mean"], s["std"], s["range"], s["n"]) == (2.0, 1.0, 2.0, 3)


def test_variants_set_the_base_type():
    for variant, (qtype, dq) in VARIANTS.items():
        c = get_config(variant)
        assert (c.model.quantize, c.model.double_quant) == (qtype, dq)
        assert c.model.source == "smollm2-135m-instruct" and c.lora.targets == "all"
        assert c.data.template == "qlora_alpaca" and c.data.seed == 42 and c.train.schedule == "constant"
    c = run_config("fp4", 3, steps=7, tiny=True)
    assert (c.model.quantize, c.model.double_quant, c.seed, c.train.steps) == ("fp4", False, 3, 7)
    with pytest.raises(ValueError, match="unknown variant"):
        run_config("int8", 0)


def test_claim_machinery_on_the_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    result = finetune_dtypes(seeds=(0, 1), steps=2, tiny=True, workdir=str(tmp_path / "runs"))
    assert result.scale == "scaled-down" and result.status in STATUSES
    m = result.measured
    loss = m["held_out_loss"]
    assert set(loss) == {"bf16", "fp4", "nf4dq"} and all(set(v) == {"0", "1"} for v in loss.values())
    assert all(math.isfinite(x) for v in loss.values() for x in v.values())
    before = m["loss_before_finetuning"]
    # the base types give different base weights, so different losses (before and after fine-tuning)
    assert len({before["bf16"], before["fp4"], before["nf4dq"]}) == 3
    assert loss["fp4"]["0"] != loss["nf4dq"]["0"]
    assert loss["bf16"]["0"] != loss["bf16"]["1"]  # the seed matters (LoRA init, dropout)
    assert m["criterion_nf4dq"]["status"] == result.status
    assert m["stats"]["bf16"]["range"] == pytest.approx(abs(loss["bf16"]["0"] - loss["bf16"]["1"]))
    # paper values come from reported.json; ours sit in their own rows
    rows = {r.quantity: r for r in result.rows}
    assert rows["NFloat4 + DQ QLoRA MMLU mean"].paper == 53.1 and rows["BFloat16 LoRA MMLU mean"].paper == 53.0
    assert rows["QLoRA NF4 + DQ: held-out loss, mean of 2 seeds"].ours == pytest.approx(
        np.mean(list(loss["nf4dq"].values())), abs=1e-4)
    record = write_result(tmp_path / "claim7.json", paper="qlora", claim="7", result=result, track=False)
    assert read_result(tmp_path / "claim7.json")["status"] == record["status"]
    # a finished run in the workdir is read back, not retrained; a run of another config there is refused
    same = run_config("fp4", 1, steps=2, tiny=True, **{"train.lr": 1e-3})  # the config the claim ran (its lr)
    again = train_run(same, tmp_path / "runs" / "fp4-seed1")
    assert again["eval_loss"] == loss["fp4"]["1"]
    with pytest.raises(ValueError, match="another config"):
        train_run(run_config("fp4", 1, steps=2, tiny=True), tmp_path / "runs" / "fp4-seed1")  # another lr


def test_held_out_split_is_disjoint_and_trains_on_responses(data_dir):
    from shared.model.loading import resolve_source
    from shared.model.tokenizer import load_tokenizer
    from shared.train.data import make_data

    config = get_config("nf4dq")
    config.data.dir = str(data_dir)
    config.data.limit, config.data.eval_size = 200, 24  # a prefix of the file: the same code path, quicker
    tokenizer = load_tokenizer(resolve_source(config.model.source))
    train, eval_batches = make_data(config, tokenizer)
    evaluation = eval_batches()

    def rows(batches):
        out = set()
        for b in batches:
            for ids, pos in zip(b["input_ids"], b["positions"]):
                if (pos >= 0).any():  # not a padding row
                    out.add(tuple(ids[pos >= 0]))
        return out

    held_out = rows(evaluation)
    trained = rows(next(train) for _ in range(train.batches_per_epoch()))
    assert len(held_out) == 24 and not held_out & trained
    b = evaluation[0]
    assert b["input_ids"].shape[1] == 128
    assert 0 < b["loss_mask"].sum() < (b["positions"] >= 0).sum()  # the prompt is not trained

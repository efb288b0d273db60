"""Export the adapters of a training workdir's newest good checkpoint as a PEFT LoRA adapter
(adapter_config.json + adapter_model.safetensors), loadable with `peft.PeftModel.from_pretrained`.

    python -m scripts.export_adapter --workdir DIR --out OUT
"""

from __future__ import annotations

from absl import app, flags

from scripts import quiet_orbax
from shared.lora import export_peft
from shared.train.loop import restore_adapters

_WORKDIR = flags.DEFINE_string("workdir", None, "a scripts.train workdir", required=True)
_OUT = flags.DEFINE_string("out", None, "output directory", required=True)


def main(argv):
    del argv
    quiet_orbax()
    step, model = restore_adapters(_WORKDIR.value)
    out = export_peft(model, _OUT.value)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"exported the adapters of step {step} to {out} ({size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    app.run(main)

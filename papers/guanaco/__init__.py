"""Guanaco (QLoRA's chatbot): the recipe of artidoro/qlora's finetune_guanaco_*.sh and its OASST1 data; claims in
`claims.py`, numbers in `reported.json`, rows in README.md."""

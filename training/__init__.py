"""QLoRA SFT and DPO on a stackpref build, through TRL, peft and bitsandbytes (extra `train`).

Not built yet: see the `stackpref train` issue.
"""

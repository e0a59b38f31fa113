"""botmm's Hydra config tree, read as pkg://botmm.conf."""

"""The demo plugin's Hydra config tree, read as ``pkg://botmm_demo.conf`` (presets such as ``quoter/demo_wide``)."""

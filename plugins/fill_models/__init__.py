"""Built-in fill models: how ``exchange=sim`` fills orders (``botmm_register_fill_models``)."""

"""Classical baselines: identity, deconvolution deblurring, physics and naive bokeh, cascades."""

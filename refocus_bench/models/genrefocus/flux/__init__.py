"""``genrefocus.flux``: GenRefocus's released architecture on diffusers FLUX components."""

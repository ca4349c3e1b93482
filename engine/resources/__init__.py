"""Files the engine reads at run time: example specs (examples/*.toml) and the built-in text corpus
(corpus/*.txt). Shipped inside the package so a wheel carries them; read through engine.paths."""

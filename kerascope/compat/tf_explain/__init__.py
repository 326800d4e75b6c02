"""tf-explain 0.3's face: ``core`` (the explainer classes) and ``utils`` (display,
image, saver). Also importable at tf-explain's paths, ``kerascope.core`` and
``kerascope.utils``. May import anything below the faces."""

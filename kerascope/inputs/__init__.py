"""What goes into a model and what comes out to disk: arrays and batch iterables
(``arrays``), image files (``files``), on-disk map stores (``stores``).

May import: ``kerascope.backend``. Nothing above it."""

"""What goes into a model and what comes out to disk: arrays and batch iterables
(``arrays``, with the one ``Inputs`` class of several-input rows), a model's
declared inputs and their channel order (``spec``), image files (``files``),
on-disk map stores (``stores``). May import: ``kerascope.backend`` and Keras.
Nothing above it; its modules import from the defining module, not from here."""

"""The model engine: model surgery (scores before softmax, captured layers),
layer rules and rule sets (``rules/``), layer groups (``layers``), the pass
runner, device-side row expansion and noise, targets, input checks, numeric
helpers and the one module that reads Keras internals. May import:
``kerascope.backend``, ``kerascope.inputs``. Nothing above it; its modules import
from the defining module, not from here."""

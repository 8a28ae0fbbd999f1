"""The fault suite shares the engine tests' tiny SynthVI and config."""

from tests.engine.conftest import tiny_config, tiny_synthvi  # noqa: F401

"""Analysis tools beside the training core: model size and latency (``profiling``), accuracy
against the occlusion ratio (``robustness``)."""

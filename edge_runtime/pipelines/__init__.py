"""Pipelines: sources, preprocess, postprocess, sinks and scoring; the stages of one frame."""

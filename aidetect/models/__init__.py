"""Encoders, their preprocessing, and the self-describing model directory."""

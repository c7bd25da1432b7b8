"""Rigging engine: load 3D models, build a skeleton, compute skin weights, export rigs."""

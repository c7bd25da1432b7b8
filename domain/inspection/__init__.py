"""PatchCore visual anomaly inspection: backbones, memory bank, scoring and calibration.

Heavy libraries (torch, timm, faiss) are imported by the submodules, so importing this package
alone stays cheap; import what you need from `domain.inspection.<module>`.
"""

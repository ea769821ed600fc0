"""Datasets of Section 4: noisy phase-space observations, 28×28 pixel frames, imported measurements.

Modules: ``noisy`` (make_noisy_dataset), ``pixels`` (render_frames,
make_pixel_dataset), ``dataset`` (save/load .npz, windows, batching),
``importers`` (CSV/NPZ trajectories), ``preview`` (PNG previews). Importing this
package compiles nothing; the Numba rasteriser compiles on first use.
"""

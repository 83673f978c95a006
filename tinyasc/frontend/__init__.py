"""The audio front-end: what turns a clip into the model's input. Today the log-mel analysis
(librosa, the float reference) with its settings and saved normalisation; the fixed-point twin of
the device's C front-end joins it here."""

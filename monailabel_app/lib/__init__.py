"""Tasks of the RFR Inpaint MONAI Label app."""

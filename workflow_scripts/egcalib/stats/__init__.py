"""Statistics shared by the simulation's validation and the evaluation: the Breit-Wigner (x)
Crystal-Ball Z-peak model and its fit, the resolution metrics (eIQR, rIQR, bootstrap errors), the
paired-bootstrap comparison of two fitted widths (sigma_CB improvement), the response peak of a
calibration's closure and the in-situ energy scale of data from Z -> ee.
"""

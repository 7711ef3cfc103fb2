"""Certified robustness (placeholder in the sdp branch: the lead takes the other helper's file).

See robustsk.certify.sdp and robustsk.certify.rub.
"""

"""The lab fixtures (lab_state_dir, lab_info) live in tests/conftest.py, shared with tests/provision."""

"""LeRobot robot-dataset engine: parsing, media, recordings and local edits over plain files."""

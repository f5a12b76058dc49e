"""SageMaker serving for QBoost models: the container programs, packaging and deployment."""

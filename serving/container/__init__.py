"""The programs of the SageMaker container image: ``train`` and ``serve``.

* :mod:`.train` -- ``train``: hyperparameters and input channels of the
  ``/opt/ml`` layout in, an MLflow model in ``/opt/ml/model`` out.
* :mod:`.serve` -- ``serve``: nginx + gunicorn + the Flask app of
  :mod:`.wsgi` on port 8080; the request/response contract is in
  :mod:`.protocol`. The model is read from its compiled file
  (:mod:`.compiled_file`, numpy only) when it has one, else unpickled.
"""

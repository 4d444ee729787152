# One image for the web app, the Celery workers and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newsletter ./newsletter
COPY workers ./workers
COPY templates ./templates
RUN pip install --no-cache-dir . flower && useradd --system --create-home newsletter
USER newsletter
EXPOSE 8000
CMD ["newsletter", "web", "--host", "0.0.0.0", "--port", "8000"]

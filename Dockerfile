# Production image: gunicorn for the web, the same image runs the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt

COPY . .
# Settings refuse the test gateway with DEBUG off; collecting static files charges no card.
RUN SECRET_KEY=build-only-for-collectstatic-not-used-at-runtime ORDERS_ALLOW_TEST_GATEWAY=1 \
    python manage.py collectstatic --noinput \
    && useradd --system --no-create-home commerce \
    && mkdir -p /app/var/media && chown -R commerce /app/var
USER commerce

EXPOSE 8000
# The access log comes from Django (logger commerce.access: JSON, with the request id).
CMD ["gunicorn", "commerce.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "3", "--threads", "4"]

# Production image: gunicorn for the web, the same image runs the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt

COPY . .
RUN SECRET_KEY=build-only-for-collectstatic-not-used-at-runtime python manage.py collectstatic --noinput \
    && useradd --system --no-create-home commerce \
    && mkdir -p /app/var/media && chown -R commerce /app/var
USER commerce

EXPOSE 8000
CMD ["gunicorn", "commerce.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "3", "--threads", "4", "--access-logfile", "-"]

#!/bin/sh
# CGI of the uplink host's httpd in scripts/vm-test.sh: answers a POST with the
# MD5 of its body, so the guest can check its upload arrived whole.
printf 'Content-Type: text/plain\r\n\r\n'
head -c "${CONTENT_LENGTH:-0}" | md5sum

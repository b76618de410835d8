FROM ubuntu
ENV DB_PASSWORD=s3cr3t-Value
ARG GITHUB_TOKEN=ghp_notreal
RUN apt-get update && apt-get upgrade -y
RUN apt-get install -y curl
RUN curl -fsSL https://example.com/install.sh | sh
RUN wget -qO- https://example.com/get | sudo bash -s --
ADD https://example.com/tool.tgz /opt/
ADD config.yaml /etc/app/
ADD vendor.tar.gz /opt/vendor/
RUN chmod +s /usr/local/bin/helper && chmod 777 /data
RUN chmod 4755 /usr/bin/other
RUN chmod 1777 /scratch
WORKDIR app
CMD ["first"]
CMD ["second"]
ENTRYPOINT ["a"]
ENTRYPOINT ["b"]
USER root

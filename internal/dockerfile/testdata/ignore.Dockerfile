# moat-ignore ML001
FROM node
# moat-ignore ML003
ADD index.js /srv/
# Download the tool; vetted by hand.
# moat-ignore: ML004, ML005
ADD https://example.com/tool /usr/local/bin/tool
# moat-ignore ML011
RUN chmod 777 /tmp/cache && chmod u+s /bin/x

# Blank lines keep a comment block; an empty "#" line ends it, so the
# ignore below does not reach WORKDIR.
# moat-ignore ML013
#
WORKDIR rel
# moat-ignore
USER root
# moat-ignore ML099 is not a rule here, so nothing is silenced
WORKDIR other

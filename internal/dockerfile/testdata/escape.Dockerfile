# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
WORKDIR C:\app
RUN powershell -Command `
    Invoke-WebRequest https://example.com/a.ps1 -OutFile a.ps1
ADD https://example.com/file.zip C:/tmp/
USER ContainerUser
HEALTHCHECK CMD ["cmd", "/c", "exit 0"]

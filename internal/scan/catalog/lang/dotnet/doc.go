// Package dotnet finds NuGet packages in the *.deps.json files that .NET
// writes beside an application: every library of type "package" (projects
// and reference assemblies are not packages). Files are read up to 32 MiB.
package dotnet

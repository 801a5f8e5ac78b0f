"""The smoke subset on arm64 (`make arm64`): the arm64 build of the image, in the compose.yml
stack, under emulation on an amd64 machine or natively on an arm64 one."""

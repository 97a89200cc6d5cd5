/* netpulse client entry point (placeholder until the client lands). */
#include <stdio.h>
int main(void) { fputs("netpulse: under construction\n", stderr); return 1; }

/* Fault cases for the connection area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn. */
#include "runner.h"
